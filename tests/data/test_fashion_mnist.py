"""The Fashion-MNIST loader: search order, checked download, clear errors, and
the real data."""

from __future__ import annotations

import functools
import gzip
import http.server
import re
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from reglab.cli import main
from reglab.core.errors import ChecksumError, CorruptDataError, DataNotFoundError
from reglab.data import fashion_mnist as fm
from reglab.data import load_fashion_mnist, to_float_images
from tests.helpers import trust_files, write_fake_fashion, write_idx


def test_search_order_root_env_cache_system(isolated_data_env, tmp_path, monkeypatch):
    root = tmp_path / "root"
    folders = [root, isolated_data_env["env"], isolated_data_env["cache"], isolated_data_env["system"]]
    for i, folder in enumerate(folders):
        write_fake_fashion(folder, seed=i)
    assert [place for _, place in fm.search_dirs(root)] == folders
    # Each place wins only when the ones before it hold nothing.
    for folder in folders:
        found = fm.find_fashion_mnist(root)
        assert found is not None and found["train_images"].parent == folder
        for spec in fm.FILES.values():
            (folder / f"{spec.name}.gz").unlink()
    assert fm.find_fashion_mnist(root) is None


def test_cache_honours_xdg_and_defaults_to_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert fm.cache_dir() == tmp_path / "x" / "reglab" / "fashion-mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert fm.cache_dir() == tmp_path / "home" / ".cache" / "reglab" / "fashion-mnist"


def test_raw_files_and_subfolder_are_found(isolated_data_env):
    sub = isolated_data_env["env"] / "fashion-mnist"
    write_fake_fashion(sub)
    for spec in fm.FILES.values():  # decompress one in place: raw files count too
        gz = sub / f"{spec.name}.gz"
        (sub / spec.name).write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
        break
    found = fm.find_fashion_mnist()
    assert found is not None and found["train_images"].name == "train-images-idx3-ubyte"


def test_loads_fake_files_as_tensors(isolated_data_env, monkeypatch):
    arrays = write_fake_fashion(isolated_data_env["env"])
    trust_files(monkeypatch, isolated_data_env["env"])
    data = load_fashion_mnist()
    assert data.train_images.dtype == torch.uint8 and data.train_images.shape == (12, 28, 28)
    assert data.train_labels.dtype == torch.int64
    np.testing.assert_array_equal(data.test_images.numpy(), arrays["test_images"])
    X, _y = data.split("train")
    assert X.dtype == torch.float32 and X.shape == (12, 784)
    assert torch.equal(X, torch.from_numpy(arrays["train_images"]).reshape(12, 784).float() / 255)
    X4 = to_float_images(data.train_images)
    assert X4.shape == (12, 1, 28, 28) and X4.min() >= 0 and X4.max() <= 1
    # Returned tensors are the caller's: changing them does not change the next load.
    data.train_images.zero_()
    assert load_fashion_mnist().train_images.sum() > 0


def test_not_found_lists_places_and_both_ways(isolated_data_env, tmp_path):
    write_idx(isolated_data_env["system"] / "train-images-idx3-ubyte.gz", np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(DataNotFoundError) as info:
        load_fashion_mnist(tmp_path / "nowhere", download=False)
    message = str(info.value)
    for folder in (
        tmp_path / "nowhere",
        isolated_data_env["env"],
        isolated_data_env["cache"],
        isolated_data_env["system"],
    ):
        assert str(folder) in message
    assert "(only 1 of 4 files)" in message
    assert "apt-get install dataset-fashion-mnist" in message and "reglab data download" in message
    assert isinstance(info.value, FileNotFoundError)


def test_offline_download_failure_is_a_clear_not_found(isolated_data_env):
    with pytest.raises(DataNotFoundError) as info:
        load_fashion_mnist()
    message = str(info.value)
    assert "The download into" in message and "127.0.0.1:9" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert not any(p.name.endswith(".part") for p in isolated_data_env["cache"].iterdir())


def test_checksum_mismatch_names_file(isolated_data_env):
    write_fake_fashion(isolated_data_env["env"])  # valid IDX, but not Fashion-MNIST's bytes
    with pytest.raises(ChecksumError) as info:
        load_fashion_mnist()
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz: SHA-256 of the decompressed bytes is" in message
    assert fm.FILES["train_images"].sha256 in message


def test_length_mismatch_names_both_files(isolated_data_env, monkeypatch):
    folder = isolated_data_env["env"]
    write_fake_fashion(folder)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(11, np.uint8))
    trust_files(monkeypatch, folder)
    with pytest.raises(CorruptDataError) as info:
        load_fashion_mnist()
    assert "train-images-idx3-ubyte.gz holds 12 images but" in str(info.value)
    assert "train-labels-idx1-ubyte.gz holds 11 labels" in str(info.value)


def test_swapped_files_give_wrong_magic(isolated_data_env, monkeypatch):
    folder = isolated_data_env["env"]
    write_fake_fashion(folder)
    images = folder / "t10k-images-idx3-ubyte.gz"
    images.write_bytes((folder / "t10k-labels-idx1-ubyte.gz").read_bytes())
    trust_files(monkeypatch, folder)
    with pytest.raises(CorruptDataError, match=r"t10k-images-idx3-ubyte\.gz: wrong IDX magic number 0x00000801"):
        load_fashion_mnist()


def test_truncated_file_is_named(isolated_data_env, monkeypatch):
    folder = isolated_data_env["env"]
    write_fake_fashion(folder)
    trust_files(monkeypatch, folder)
    path = folder / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(CorruptDataError, match=r"t10k-labels-idx1-ubyte\.gz: truncated gzip file"):
        load_fashion_mnist()


class _Server:
    """A local HTTP server over a folder, counting requests."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_verifies_and_writes_atomically(isolated_data_env, tmp_path, monkeypatch):
    served = tmp_path / "mirror"
    arrays = write_fake_fashion(served)
    # Re-compress differently from the mirror: the check is on decompressed bytes.
    trust_files(monkeypatch, served)
    with _Server(served) as server:
        monkeypatch.setenv("REGLAB_FASHION_MNIST_URL", server.url)
        data = load_fashion_mnist()
    cache = isolated_data_env["cache"]
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{s.name}.gz" for s in fm.FILES.values())
    np.testing.assert_array_equal(data.train_labels.numpy(), arrays["train_labels"])
    assert data.source == cache


def test_download_rejects_wrong_bytes_and_leaves_nothing(isolated_data_env, tmp_path, monkeypatch):
    served = tmp_path / "mirror"
    write_fake_fashion(served)  # not Fashion-MNIST: checksums will not match
    with _Server(served) as server:
        monkeypatch.setenv("REGLAB_FASHION_MNIST_URL", server.url)
        with pytest.raises(ChecksumError) as info:
            load_fashion_mnist()
    assert "train-images-idx3-ubyte.gz: SHA-256 of the decompressed bytes is" in str(info.value)
    assert list(isolated_data_env["cache"].iterdir()) == []


def test_download_of_a_non_gzip_file(isolated_data_env, tmp_path, monkeypatch):
    served = tmp_path / "mirror"
    served.mkdir()
    for spec in fm.FILES.values():
        (served / f"{spec.name}.gz").write_text("<html>not found</html>")
    with _Server(served) as server:
        monkeypatch.setenv("REGLAB_FASHION_MNIST_URL", server.url)
        with pytest.raises(ChecksumError, match="not a valid gzip file"):
            fm.download_fashion_mnist()
    assert list(isolated_data_env["cache"].iterdir()) == []


# --- the real data set ------------------------------------------------------


def test_real_data_shapes_dtypes_and_class_balance(fashion):
    assert fashion.train_images.shape == (60000, 28, 28) and fashion.train_images.dtype == torch.uint8
    assert fashion.test_images.shape == (10000, 28, 28)
    assert fashion.train_labels.dtype == torch.int64
    # Fashion-MNIST is exactly balanced: 6000 training and 1000 test images per class.
    assert torch.bincount(fashion.train_labels, minlength=10).tolist() == [6000] * 10
    assert torch.bincount(fashion.test_labels, minlength=10).tolist() == [1000] * 10
    assert int(fashion.train_images.max()) == 255 and int(fashion.train_images.min()) == 0
    X, _ = fashion.split("test", flatten=False)
    assert X.shape == (10000, 1, 28, 28) and X.dtype == torch.float32 and float(X.max()) == 1.0


def _gzip_bomb(path: Path, header: bytes, zeros: int) -> None:
    """``header`` then ``zeros`` zero bytes, gzip-compressed (about a thousandth of the size)."""
    chunk = bytes(1 << 20)
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(header)
        for _ in range(zeros // len(chunk)):
            f.write(chunk)


@pytest.mark.parametrize(
    "header, message",
    [
        (b"", r"train-labels-idx1-ubyte\.gz: SHA-256 of the decompressed bytes"),  # not IDX: 4 bytes read
        (
            bytes([0, 0, 0x08, 1]) + (12).to_bytes(4, "big"),  # 12 labels announced, 64 MiB follow
            r"train-labels-idx1-ubyte\.gz: more than 65536 unexpected bytes after the data of shape \(12,\)",
        ),
        (
            bytes([0, 0, 0x08, 1]) + (2**32 - 1).to_bytes(4, "big"),  # a header announcing 4 GB
            r"train-labels-idx1-ubyte\.gz: the IDX header announces shape \(4294967295,\)",
        ),
    ],
)
def test_a_gzip_bomb_is_refused_with_bounded_memory(isolated_data_env, monkeypatch, capsys, header, message):
    folder = isolated_data_env["env"]
    write_fake_fashion(folder)
    trust_files(monkeypatch, folder)
    _gzip_bomb(folder / "train-labels-idx1-ubyte.gz", header, 64 << 20)
    tracemalloc.start()
    try:
        code = main(["data", "verify"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err
    assert code == 1 and re.search(message, err), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert peak < 4 << 20  # the bomb inflates to 64 MiB; at most the margin of it is read
