"""The IDX file format of (Fashion-)MNIST, parsed without torchvision.

Layout: two zero bytes, a type code, the number of dimensions ``ndim``, then
``ndim`` big-endian uint32 sizes, then the values, big-endian, row-major. The
first four bytes read as one big-endian integer are the "magic number", e.g.
0x00000803 for a 3-D uint8 array (images) and 0x00000801 for a 1-D one
(labels). Files may be gzip-compressed (``.gz``) or raw.

Every problem is reported as :class:`~reglab.errors.CorruptDataError` naming
the file and what is wrong with it, never as a bare gzip or NumPy traceback.
Files are read with :func:`read_idx_bytes`, which never inflates more than the
header announces (plus a margin): a gzip bomb costs no memory.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import zlib
from pathlib import Path

import numpy as np

from ..core.errors import CorruptDataError

__all__ = [
    "IDX_TYPES",
    "IDX_MARGIN",
    "magic_number",
    "describe_magic",
    "parse_idx",
    "encode_idx",
    "read_idx",
    "read_idx_bytes",
]

#: Bytes read past the end an IDX header announces, to report trailing bytes exactly;
#: a file with more is refused without reading (or inflating) the rest.
IDX_MARGIN = 1 << 16

# type code -> (big-endian dtype, name)
IDX_TYPES: dict[int, tuple[str, str]] = {
    0x08: (">u1", "uint8"),
    0x09: (">i1", "int8"),
    0x0B: (">i2", "int16"),
    0x0C: (">i4", "int32"),
    0x0D: (">f4", "float32"),
    0x0E: (">f8", "float64"),
}


def magic_number(type_code: int, ndim: int) -> int:
    return (type_code << 8) | ndim


def describe_magic(magic: int) -> str:
    type_code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    name = IDX_TYPES.get(type_code, (None, "unknown type"))[1]
    return f"0x{magic:08X} ({name}, {ndim}-D)"


def parse_idx(data: bytes, source: str = "<bytes>", *, expected_magic: int | None = None) -> np.ndarray:
    """Parse decompressed IDX bytes into a native-endian NumPy array.

    Args:
        data: the whole decompressed file.
        source: the file name used in error messages.
        expected_magic: if given, the magic number the file must have (e.g.
            ``0x00000803`` for uint8 images).

    Raises:
        CorruptDataError: truncated header or data, trailing bytes, unknown
            type code, or a magic number other than ``expected_magic``.
    """
    if len(data) < 4:
        raise CorruptDataError(f"{source}: truncated: {len(data)} bytes, too short for an IDX header")
    magic = int.from_bytes(data[:4], "big")
    zero, type_code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or type_code not in IDX_TYPES or ndim == 0:
        raise CorruptDataError(
            f"{source}: not an IDX file: magic number 0x{magic:08X} "
            "(expected two zero bytes, a known type code and at least one dimension)"
        )
    if expected_magic is not None and magic != expected_magic:
        raise CorruptDataError(
            f"{source}: wrong IDX magic number {describe_magic(magic)}, expected {describe_magic(expected_magic)}"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CorruptDataError(f"{source}: truncated: the header announces {ndim} dimensions but the file ends first")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_TYPES[type_code][0])
    expected_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual_bytes = len(data) - header
    if actual_bytes < expected_bytes:
        raise CorruptDataError(
            f"{source}: truncated: the header announces shape {shape} ({expected_bytes} bytes of data) "
            f"but the file holds {actual_bytes}"
        )
    if actual_bytes > expected_bytes:
        raise CorruptDataError(
            f"{source}: {actual_bytes - expected_bytes} unexpected bytes after the data of shape {shape}"
        )
    array = np.frombuffer(data, dtype=dtype, count=expected_bytes // dtype.itemsize, offset=header)
    return array.reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes of ``array`` (the inverse of :func:`parse_idx`); used for tests and fixtures."""
    array = np.asarray(array)
    for code, (be, _) in IDX_TYPES.items():  # noqa: B007 (the code of the matching type is used below)
        if np.dtype(be).newbyteorder("=") == array.dtype:
            break
    else:
        raise ValueError(f"dtype {array.dtype} has no IDX type code")
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.dtype(be)).tobytes()


def read_file_bytes(path: Path, *, compressed: bool | None = None) -> bytes:
    """The decompressed content of ``path``: gzip if ``compressed``, or by
    default if its name ends in .gz."""
    if compressed is None:
        compressed = path.suffix == ".gz"
    try:
        if compressed:
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except EOFError:
        raise CorruptDataError(f"{path}: truncated gzip file (the compressed stream ends early)") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise CorruptDataError(f"{path}: corrupt gzip file ({exc})") from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CorruptDataError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def read_idx_bytes(path: Path, *, max_bytes: int | None = None, compressed: bool | None = None) -> bytes:
    """The decompressed bytes of the IDX file ``path``, never more than its header announces
    plus :data:`IDX_MARGIN`, and never more than ``max_bytes`` in all.

    A gzip bomb, or a file with far more bytes than its header announces, is refused with
    :class:`~reglab.core.errors.CorruptDataError` after inflating at most that much, so
    memory stays bounded whatever the file holds. A file that is not IDX at all is read
    no further than its first four bytes (:func:`parse_idx` then says what is wrong).
    """
    if compressed is None:
        compressed = path.suffix == ".gz"
    try:
        with gzip.open(path, "rb") if compressed else path.open("rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in IDX_TYPES or head[3] == 0:
                return head
            dims = f.read(4 * head[3])
            if len(dims) < 4 * head[3]:
                return head + dims
            shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(head[3]))
            announced = 4 + len(dims) + math.prod(shape) * np.dtype(IDX_TYPES[head[2]][0]).itemsize
            if max_bytes is not None and announced > max_bytes:
                raise CorruptDataError(
                    f"{path}: the IDX header announces shape {shape} ({announced} bytes), "
                    f"more than a file here can hold ({max_bytes} bytes)"
                )
            body = f.read(announced - 4 - len(dims) + IDX_MARGIN + 1)
            if 4 + len(dims) + len(body) > announced + IDX_MARGIN:
                raise CorruptDataError(
                    f"{path}: more than {IDX_MARGIN} unexpected bytes after the data of shape {shape} "
                    "(the file decompresses to more than its header announces)"
                )
            return head + dims + body
    except EOFError:
        raise CorruptDataError(f"{path}: truncated gzip file (the compressed stream ends early)") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise CorruptDataError(f"{path}: corrupt gzip file ({exc})") from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CorruptDataError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def read_idx(path: str | Path, *, expected_magic: int | None = None) -> tuple[np.ndarray, str]:
    """Read an IDX file (gzip or raw); return the array and the SHA-256 hex digest of
    its decompressed bytes (read with :func:`read_idx_bytes`: bounded memory)."""
    path = Path(path)
    data = read_idx_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    return parse_idx(data, str(path), expected_magic=expected_magic), digest
