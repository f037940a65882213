"""The IDX parser against hand-made files."""

import gzip

import numpy as np
import pytest

from reglab.core.errors import CorruptDataError
from reglab.data.idx import encode_idx, magic_number, parse_idx, read_idx
from tests.helpers import write_idx


def test_hand_made_header_is_parsed_exactly():
    # 2 images of 2x3 pixels, written byte by byte as the format specifies.
    header = bytes([0, 0, 0x08, 3]) + (2).to_bytes(4, "big") + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    data = header + bytes(range(12))
    array = parse_idx(data)
    assert array.dtype == np.uint8 and array.shape == (2, 2, 3)
    assert array.ravel().tolist() == list(range(12))


def test_big_endian_int32_values():
    header = bytes([0, 0, 0x0C, 1]) + (2).to_bytes(4, "big")
    data = header + (1).to_bytes(4, "big") + (-2).to_bytes(4, "big", signed=True)
    array = parse_idx(data)
    assert array.dtype == np.dtype("int32") and array.tolist() == [1, -2]
    assert array.dtype.byteorder in ("=", "<", "|")  # native order, usable by torch


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip(dtype, tmp_path):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    for name in ("a.idx", "a.idx.gz"):
        loaded, digest = read_idx(write_idx(tmp_path / name, array))
        np.testing.assert_array_equal(loaded, array)
        assert len(digest) == 64


def test_digest_is_of_the_decompressed_bytes(tmp_path):
    import hashlib

    array = np.arange(10, dtype=np.uint8)
    raw = encode_idx(array)
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(raw, compresslevel=1))
    other = tmp_path / "y.gz"
    other.write_bytes(gzip.compress(raw, compresslevel=9, mtime=12345))
    assert path.read_bytes() != other.read_bytes()
    assert read_idx(path)[1] == read_idx(other)[1] == hashlib.sha256(raw).hexdigest()


def test_wrong_magic_names_file_and_both_numbers(tmp_path):
    path = write_idx(tmp_path / "labels.gz", np.zeros(5, dtype=np.uint8))
    with pytest.raises(CorruptDataError) as info:
        read_idx(path, expected_magic=magic_number(0x08, 3))
    message = str(info.value)
    assert str(path) in message
    assert "wrong IDX magic number 0x00000801 (uint8, 1-D), expected 0x00000803 (uint8, 3-D)" in message


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"\x00\x00", "too short for an IDX header"),
        (b"\x12\x34\x08\x01" + bytes(8), "not an IDX file: magic number 0x12340801"),
        (b"\x00\x00\x07\x01" + bytes(8), "not an IDX file"),
        (b"\x00\x00\x08\x03" + (2).to_bytes(4, "big"), "the header announces 3 dimensions but the file ends first"),
        (b"\x00\x00\x08\x01" + (10).to_bytes(4, "big") + bytes(7), "(10 bytes of data) but the file holds 7"),
        (b"\x00\x00\x08\x01" + (2).to_bytes(4, "big") + bytes(5), "3 unexpected bytes after the data"),
    ],
)
def test_malformed_bytes(data, fragment):
    with pytest.raises(CorruptDataError) as info:
        parse_idx(data, "some-file")
    assert str(info.value).startswith("some-file: ")
    assert fragment in str(info.value)


def test_truncated_gzip_is_reported_not_raised_raw(tmp_path):
    full = gzip.compress(encode_idx(np.arange(1000, dtype=np.uint8).reshape(10, 100)))
    path = tmp_path / "cut.gz"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(CorruptDataError, match=r"cut\.gz: truncated gzip file"):
        read_idx(path)


def test_not_gzip_is_reported(tmp_path):
    path = tmp_path / "plain.gz"
    path.write_bytes(b"this is not gzip at all")
    with pytest.raises(CorruptDataError, match=r"plain\.gz: corrupt gzip file"):
        read_idx(path)


def test_truncated_raw_file(tmp_path):
    path = write_idx(tmp_path / "images.idx", np.zeros((4, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptDataError, match=r"images\.idx: truncated: the header announces shape \(4, 28, 28\)"):
        read_idx(path)
