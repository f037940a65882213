"""Atomic file writes: a temporary file in the same folder, fsync, rename.

A reader, a crash or Ctrl-C never sees half a file under the final name. A
write that fails (a full disk, a folder that is not writable or not a folder)
raises :class:`~reglab.core.errors.OutputError` naming the file and the reason
in one sentence, and leaves the previous version of the file in place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import OutputError

__all__ = ["atomic_write_bytes", "atomic_write_text", "temporary_sibling", "publish", "output_error", "os_reason"]


def os_reason(exc: OSError) -> str:
    """The readable part of an OS error: ``No space left on device``, not ``[Errno 28] ...``."""
    return exc.strerror or str(exc) or type(exc).__name__


def output_error(path: str | Path, exc: OSError, what: str = "write") -> OutputError:
    """The one sentence for an output that cannot be written: ``cannot write PATH: REASON``."""
    if isinstance(exc, OutputError):
        return exc
    return OutputError(f"cannot {what} {path}: {os_reason(exc)}")


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def temporary_sibling(path: Path) -> Path:
    """A new empty hidden file next to ``path`` (same file system, so rename is atomic)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    return Path(name)


def publish(tmp: Path, path: Path) -> Path:
    """Give ``tmp`` the usual file mode (mkstemp makes 0600 files) and rename it to ``path``."""
    os.chmod(tmp, _file_mode())
    os.replace(tmp, path)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; :class:`~reglab.core.errors.OutputError` if it cannot be."""
    path = Path(path)
    try:
        tmp = temporary_sibling(path)
    except OSError as exc:
        raise output_error(path, exc) from exc
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return publish(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise output_error(path, exc) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))
