"""Fashion-MNIST from the original IDX files, as in-memory tensors.

Where the files are looked for, in order (the first place holding all four
files wins; each file may be gzip-compressed or raw, directly in the folder or
in a ``fashion-mnist`` sub-folder of it):

1. the ``root`` argument;
2. the ``REGLAB_DATA`` environment variable;
3. the user cache, ``$XDG_CACHE_HOME/reglab/fashion-mnist`` (default
   ``~/.cache/reglab/fashion-mnist``);
4. ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``);
5. else the files are downloaded from the official Fashion-MNIST location into
   the cache, each written atomically (temporary file, then rename).

Every file is verified by the SHA-256 of its *decompressed* bytes: Debian
recompressed the ``.gz`` files, so their compressed bytes differ from the
originals while the content does not.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.errors import ChecksumError, CorruptDataError, DataNotFoundError
from ..core.files import publish, temporary_sibling
from .idx import magic_number, parse_idx, read_idx_bytes

__all__ = [
    "CLASSES",
    "TRAIN_SIZE",
    "TEST_SIZE",
    "FILES",
    "MIRRORS",
    "SYSTEM_DIR",
    "FashionMNIST",
    "cache_dir",
    "search_dirs",
    "find_fashion_mnist",
    "download_fashion_mnist",
    "load_fashion_mnist",
    "to_float_images",
]

CLASSES = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)

#: The sizes of the training and test sets.
TRAIN_SIZE, TEST_SIZE = 60_000, 10_000
#: The largest decompressed file (the training images, with their 16-byte header): no file
#: is inflated beyond it, so a corrupt or hostile file costs bounded memory.
MAX_FILE_BYTES = 16 + TRAIN_SIZE * 28 * 28

_IMAGES = magic_number(0x08, 3)
_LABELS = magic_number(0x08, 1)


@dataclass(frozen=True)
class _FileSpec:
    name: str  # without .gz
    sha256: str  # of the decompressed bytes
    magic: int


FILES: dict[str, _FileSpec] = {
    "train_images": _FileSpec(
        "train-images-idx3-ubyte", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", _IMAGES
    ),
    "train_labels": _FileSpec(
        "train-labels-idx1-ubyte", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", _LABELS
    ),
    "test_images": _FileSpec(
        "t10k-images-idx3-ubyte", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", _IMAGES
    ),
    "test_labels": _FileSpec(
        "t10k-labels-idx1-ubyte", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", _LABELS
    ),
}

# The official location (Zalando Research's README), then its GitHub copy.
MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
)
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
_HOW_TO_GET = (
    "Two ways to get the data: (1) on Debian/Ubuntu, `sudo apt-get install dataset-fashion-mnist` "
    f"(installs it in {SYSTEM_DIR}); (2) on a machine with internet access, `reglab data download` "
    "(or any reglab command that needs the data) downloads and verifies it; "
    "or put the four IDX files in a folder and set REGLAB_DATA to it."
)


def cache_dir() -> Path:
    """The user cache folder for the downloaded files (honours ``XDG_CACHE_HOME``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reglab" / "fashion-mnist"


def search_dirs(root: str | Path | None = None) -> list[tuple[str, Path]]:
    """The places searched, in order, each as ``(why, folder)``."""
    places: list[tuple[str, Path]] = []
    if root is not None:
        places.append(("root argument", Path(root)))
    env = os.environ.get("REGLAB_DATA")
    if env:
        places.append(("REGLAB_DATA", Path(env)))
    places.append(("user cache", cache_dir()))
    places.append(("Debian package dataset-fashion-mnist", SYSTEM_DIR))
    return places


def _file_in(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def _complete_set(folder: Path) -> dict[str, Path] | None:
    """The four files in ``folder`` (or its ``fashion-mnist`` sub-folder), if all are there."""
    for base in (folder, folder / "fashion-mnist"):
        found = {key: _file_in(base, spec.name) for key, spec in FILES.items()}
        complete = {key: path for key, path in found.items() if path is not None}
        if len(complete) == len(found):
            return complete
    return None


def find_fashion_mnist(root: str | Path | None = None) -> dict[str, Path] | None:
    """The paths of the four files from the first place that holds them all, or None."""
    for _, folder in search_dirs(root):
        files = _complete_set(folder)
        if files is not None:
            return files
    return None


def _not_found_message(root: str | Path | None, download_error: str | None) -> str:
    lines = ["Fashion-MNIST was not found. Places searched, in order:"]
    for why, folder in search_dirs(root):
        present = [spec.name for spec in FILES.values() if _file_in(folder, spec.name)]
        note = f" (only {len(present)} of 4 files)" if present else ""
        lines.append(f"  - {folder} [{why}]{note}")
    if download_error:
        lines.append(f"The download into {cache_dir()} failed: {download_error}")
    lines.append(_HOW_TO_GET)
    return "\n".join(lines)


def _fetch(url: str, destination: Path, timeout: float) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response, destination.open("wb") as out:
        shutil.copyfileobj(response, out, length=1 << 20)


class _Unreachable(Exception):
    """No mirror could be reached (the reason is the message)."""


def _download_one(spec: _FileSpec, folder: Path, mirrors: tuple[str, ...], timeout: float, progress: bool) -> Path:
    final = folder / f"{spec.name}.gz"
    failures: list[str] = []
    served_bad_bytes = False
    for base in mirrors:
        url = base.rstrip("/") + "/" + final.name
        if progress:
            print(f"reglab: downloading {url}", file=sys.stderr, flush=True)
        tmp = temporary_sibling(final)
        try:
            _fetch(url, tmp, timeout)
            try:
                digest = hashlib.sha256(read_idx_bytes(tmp, max_bytes=MAX_FILE_BYTES, compressed=True)).hexdigest()
            except CorruptDataError as exc:
                raise ChecksumError(f"not a valid gzip file ({str(exc).split(': ', 1)[-1]})") from None
            if digest != spec.sha256:
                raise ChecksumError(f"SHA-256 of the decompressed bytes is {digest}, expected {spec.sha256}")
            return publish(tmp, final)
        except ChecksumError as exc:
            served_bad_bytes = True
            failures.append(f"{url}: {exc}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            failures.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
        finally:
            tmp.unlink(missing_ok=True)
    if served_bad_bytes:
        raise ChecksumError("; ".join(failures))
    raise _Unreachable("; ".join(failures))


def _download(folder: Path, mirrors: tuple[str, ...] | None, timeout: float, progress: bool) -> dict[str, Path]:
    if mirrors is None:
        env = os.environ.get("REGLAB_FASHION_MNIST_URL")
        mirrors = (env,) if env else MIRRORS
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for key, spec in FILES.items():
        final = folder / f"{spec.name}.gz"
        try:
            present_ok = (
                final.is_file()
                and hashlib.sha256(read_idx_bytes(final, max_bytes=MAX_FILE_BYTES)).hexdigest() == spec.sha256
            )
        except CorruptDataError:
            present_ok = False
        paths[key] = final if present_ok else _download_one(spec, folder, mirrors, timeout, progress)
    return paths


def download_fashion_mnist(
    folder: str | Path | None = None,
    *,
    mirrors: tuple[str, ...] | None = None,
    timeout: float = 60.0,
    progress: bool = False,
) -> dict[str, Path]:
    """Download the four ``.gz`` files into ``folder`` (default: the user cache).

    Files already present and correct are kept. Each download goes to a
    temporary file in the same folder, is verified by the SHA-256 of its
    decompressed bytes, and only then renamed into place, so an interrupted or
    corrupt download never leaves a file under the final name. Mirrors are
    tried in order (the ``REGLAB_FASHION_MNIST_URL`` environment variable
    replaces them with one base URL).

    Raises:
        DataNotFoundError: no mirror could be reached.
        ChecksumError: a mirror served bytes that are not Fashion-MNIST.
    """
    try:
        return _download(Path(folder) if folder is not None else cache_dir(), mirrors, timeout, progress)
    except _Unreachable as exc:
        raise DataNotFoundError(_not_found_message(None, str(exc))) from None


@dataclass(frozen=True)
class FashionMNIST:
    """The data set as tensors: images ``(N, 28, 28)`` uint8, labels ``(N,)`` int64.

    60,000 training and 10,000 test images; labels index :data:`CLASSES`.
    Use :func:`to_float_images` or :meth:`split` for float32 inputs in [0, 1].
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: Path

    classes = CLASSES

    def split(
        self, name: str, *, flatten: bool = True, device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X, y)`` for ``"train"`` or ``"test"``: X float32 in [0, 1] of shape
        ``(N, 784)`` (``flatten=True``) or ``(N, 1, 28, 28)``; y int64 ``(N,)``."""
        if name not in ("train", "test"):
            from ..core.checks import invalid_argument

            raise invalid_argument("name", "'train' or 'test'", name)
        images = getattr(self, f"{name}_images").to(device)
        labels = getattr(self, f"{name}_labels").to(device)
        return to_float_images(images, flatten=flatten), labels


def to_float_images(images: torch.Tensor, *, flatten: bool = False) -> torch.Tensor:
    """uint8 images ``(N, H, W)`` -> float32 in [0, 1], ``(N, 1, H, W)`` or ``(N, H*W)``."""
    x = images.to(torch.float32).div_(255.0)
    return x.reshape(x.shape[0], -1) if flatten else x.unsqueeze(1)


_cache: dict[tuple[str, ...], FashionMNIST] = {}


def _load_files(files: dict[str, Path], verify: bool) -> FashionMNIST:
    arrays: dict[str, np.ndarray] = {}
    for key, spec in FILES.items():
        path = files[key]
        data = read_idx_bytes(path, max_bytes=MAX_FILE_BYTES)
        if verify:
            digest = hashlib.sha256(data).hexdigest()
            if digest != spec.sha256:
                raise ChecksumError(
                    f"{path}: SHA-256 of the decompressed bytes is {digest}, expected {spec.sha256} "
                    "(the file is damaged or is not Fashion-MNIST; delete it to fetch a fresh copy)"
                )
        arrays[key] = parse_idx(data, str(path), expected_magic=spec.magic)
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[0] != labels.shape[0]:
            raise CorruptDataError(
                f"{files[f'{split}_images']} holds {images.shape[0]} images but "
                f"{files[f'{split}_labels']} holds {labels.shape[0]} labels"
            )
        if labels.size and int(labels.max()) >= len(CLASSES):
            raise CorruptDataError(
                f"{files[f'{split}_labels']}: label {int(labels.max())} is not a Fashion-MNIST class (0-9)"
            )
    return FashionMNIST(
        train_images=torch.from_numpy(arrays["train_images"]),
        train_labels=torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        test_images=torch.from_numpy(arrays["test_images"]),
        test_labels=torch.from_numpy(arrays["test_labels"].astype(np.int64)),
        source=files["train_images"].parent,
    )


def load_fashion_mnist(root: str | Path | None = None, *, download: bool = True, verify: bool = True) -> FashionMNIST:
    """Load Fashion-MNIST from the first place that holds it (see the module doc).

    Args:
        root: a folder to look in first.
        download: download into the user cache when no place holds the files.
        verify: check each file's decompressed SHA-256 (about 0.1 s).

    Returns:
        A :class:`FashionMNIST`. Results are cached per folder within the
        process; each call returns fresh tensors, safe to modify.

    Raises:
        DataNotFoundError: not found and not downloadable (lists the places).
        CorruptDataError / ChecksumError: a file is damaged, naming it.
    """
    files = find_fashion_mnist(root)
    if files is None:
        if not download:
            raise DataNotFoundError(_not_found_message(root, None))
        try:
            files = _download(cache_dir(), None, 60.0, progress=True)
        except _Unreachable as exc:
            raise DataNotFoundError(_not_found_message(root, str(exc))) from None
    key = tuple(str(files[k].resolve()) for k in FILES) + (str(verify),)
    stamp = tuple(str(files[k].stat().st_mtime_ns) for k in FILES)
    cached = _cache.get(key + stamp)
    if cached is None:
        cached = _load_files(files, verify)
        _cache.clear()
        _cache[key + stamp] = cached
    return FashionMNIST(
        train_images=cached.train_images.clone(),
        train_labels=cached.train_labels.clone(),
        test_images=cached.test_images.clone(),
        test_labels=cached.test_labels.clone(),
        source=cached.source,
    )
