"""Shared fixtures.

``isolated_data_env`` points every place the Fashion-MNIST loader searches at
empty temporary folders (and refuses network downloads), so loader tests never
depend on the machine. ``fashion`` is the real data set, loaded once.
"""

from __future__ import annotations

import dataclasses as _dc
import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn as _nn

from reglab.data import encode_idx
from reglab.data import fashion_mnist as fm

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")


def write_idx(path: Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzip when the name ends in .gz)."""
    data = encode_idx(array)
    compress = path.suffix == ".gz" if compress is None else compress
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def write_fake_fashion(folder: Path, *, n_train: int = 12, n_test: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    """Four small, valid IDX files with Fashion-MNIST's names and shapes (28x28)."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for key, array in arrays.items():
        write_idx(folder / f"{fm.FILES[key].name}.gz", array)
    return arrays


def trust_files(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make the loader accept the files in ``folder`` by patching the expected SHA-256s."""
    import hashlib

    from reglab.data.idx import read_file_bytes

    patched = {}
    for key, spec in fm.FILES.items():
        path = folder / f"{spec.name}.gz"
        digest = hashlib.sha256(read_file_bytes(path)).hexdigest()
        patched[key] = fm._FileSpec(spec.name, digest, spec.magic)
    monkeypatch.setattr(fm, "FILES", patched)


@pytest.fixture
def isolated_data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    places = {
        "env": tmp_path / "env-data",
        "xdg": tmp_path / "xdg-cache",
        "system": tmp_path / "system-datasets",
    }
    for folder in places.values():
        folder.mkdir()
    monkeypatch.setenv("REGLAB_DATA", str(places["env"]))
    monkeypatch.setenv("XDG_CACHE_HOME", str(places["xdg"]))
    monkeypatch.setattr(fm, "SYSTEM_DIR", places["system"])
    # Nothing listens on port 9 (discard): downloads fail fast and offline.
    monkeypatch.setenv("REGLAB_FASHION_MNIST_URL", "http://127.0.0.1:9/")
    fm._cache.clear()
    places["cache"] = places["xdg"] / "reglab" / "fashion-mnist"
    yield places
    fm._cache.clear()


@pytest.fixture(scope="session")
def fashion() -> fm.FashionMNIST:
    """The real Fashion-MNIST (set up by `make test`)."""
    return fm.load_fashion_mnist(download=False)


# --- a tiny experiment for runner and CLI tests -------------------------------


@_dc.dataclass(frozen=True)
class TinyConfig:
    epochs: int = 3
    lr: float = 0.05
    interrupt_at: int = 0  # raise KeyboardInterrupt at the end of this epoch
    nan_at: int = 0  # the loss becomes NaN from this epoch on
    fail_at: int = 0  # raise RuntimeError at the end of this epoch
    seed: int = 0


def _tiny_run(config, ctx):
    from reglab import BatchIterator, LambdaCallback, fit, seed_everything
    from reglab.experiments import Result

    seed_everything(config.seed)
    g = torch.Generator().manual_seed(config.seed)
    X = torch.randn(64, 4, generator=g)
    y = (X[:, 0] > 0).long()
    model = _nn.Linear(4, 2)
    epoch = {"n": 0}

    def loss_fn(out, target):
        loss = _nn.functional.cross_entropy(out, target)
        return loss * float("nan") if config.nan_at and epoch["n"] + 1 >= config.nan_at else loss

    def after(state, row):
        epoch["n"] = state.epoch
        if state.epoch == config.interrupt_at:
            raise KeyboardInterrupt
        if state.epoch == config.fail_at:
            raise RuntimeError("boom")

    history = fit(
        model,
        BatchIterator(X, y, batch_size=16, seed=config.seed),
        loss_fn=loss_fn,
        optimizer=torch.optim.SGD(model.parameters(), lr=config.lr),
        epochs=config.epochs,
        eval_sets={"test": BatchIterator(X, y, batch_size=64, shuffle=False)},
        device=ctx.device,
        callbacks=[*ctx.callbacks(), LambdaCallback(on_epoch_end=after)],
        progress=False,
    )
    return Result(summary=dict(history.last), rows=history.rows, model=model)


@pytest.fixture
def tiny_experiment(monkeypatch):
    """Register experiment 'tiny' for the duration of one test."""
    from reglab.experiments import EXPERIMENTS, Experiment

    entries = dict(EXPERIMENTS._entries)
    entries["tiny"] = Experiment("tiny", "a tiny synthetic experiment", TinyConfig, _tiny_run, {"epochs": 1})
    monkeypatch.setattr(EXPERIMENTS, "_entries", entries)
    return "tiny"


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The numbers behind the claim tests were measured with one torch thread.
    Pinning it makes every run of the suite compute the same floats whatever the
    machine's core count (a matmul's summation order depends on the threads).
    Tests measured with another count pin it themselves."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
