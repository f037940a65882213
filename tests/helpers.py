"""Code the tests share; import it as ``from tests.helpers import ...``.

Fixtures stay in ``tests/conftest.py``; this module holds plain functions and
constants:

- statistics and randomness: ``K``, ``gen``;
- devices: ``CUDA``, ``needs_cuda``;
- autograd: ``forward_and_grad``, ``saved_bytes``;
- Fashion-MNIST files: ``write_idx``, ``write_fake_fashion``, ``trust_files``;
- faults: ``fill_disk`` (with the ``tiny_disk`` fixture, a 1 MiB tmpfs);
- experiments: ``run_dry``, ``assert_run_files``, ``assert_figure_labelled``,
  and the tiny synthetic experiment (``TinyConfig``, ``tiny_run``) that the
  ``tiny_experiment`` fixture registers.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from reglab.data import encode_idx
from reglab.data import fashion_mnist as fm
from reglab.data.idx import read_file_bytes
from reglab.runs.run_dir import RunDir
from reglab.runs.runner import run_experiment

# --- statistics and randomness ---------------------------------------------------

# Statistical tolerances are K standard errors of the distribution involved
# (K = 5: a false alarm about once in 1.7 million runs), with fixed seeds.
K = 5.0


def gen(seed: int = 0, device: str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(seed)


# --- devices ------------------------------------------------------------------------

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")


# --- autograd -------------------------------------------------------------------------


def forward_and_grad(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, upstream: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``fn(x)`` and its gradient for the upstream gradient ``upstream``, computed on a
    fresh leaf copy of ``x``: a function and its reference compared forward and backward
    (in float64, with the same mask) each get their own graph."""
    leaf = x.detach().clone().requires_grad_(True)
    out = fn(leaf)
    out.backward(upstream)
    return out.detach(), leaf.grad


def saved_bytes(fn: Callable[[torch.Tensor], Any], x: torch.Tensor) -> int:
    """Bytes of the tensors autograd saves for backward while ``fn(x)`` runs (each save counted)."""
    saved = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x)
    return sum(saved)


# --- Fashion-MNIST files -------------------------------------------------------------


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
    patched = {}
    for key, spec in fm.FILES.items():
        path = folder / f"{spec.name}.gz"
        digest = hashlib.sha256(read_file_bytes(path)).hexdigest()
        patched[key] = fm._FileSpec(spec.name, digest, spec.magic)
    monkeypatch.setattr(fm, "FILES", patched)


# --- faults ---------------------------------------------------------------------------


def fill_disk(disk: Path) -> Path:
    """Fill the file system of ``disk`` (a small tmpfs) to the last byte; returns the filler
    file (delete it to make room again)."""
    import errno

    filler = disk / "filler"
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    for k in range(10_000):  # the last few pages too
        try:
            (disk / f"dust{k}").write_bytes(b"\0" * 512)
        except OSError:
            break
    return filler


# --- experiments ------------------------------------------------------------------------


def run_dry(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides=(), **kwargs: Any):
    """``run_experiment(name, dry_run=True)`` into ``tmp_path``; returns
    ``(outcome, figures)`` where ``figures`` maps file names to the Figure objects saved."""
    figures: dict[str, Any] = {}
    original = RunDir.save_figure

    def capture(self, file_name, figure):
        figures[file_name] = figure
        return original(self, file_name, figure)

    monkeypatch.setattr(RunDir, "save_figure", capture)
    outcome = run_experiment(name, overrides, out=tmp_path, quiet=True, dry_run=True, device="cpu", **kwargs)
    assert outcome.status == "complete", outcome.summary.get("error")
    return outcome, figures


def assert_run_files(outcome, expected: list[str]) -> dict[str, Any]:
    """The run directory holds config.json, summary.json and ``expected``; returns summary.json."""
    path = outcome.run_dir.path
    for name in ["config.json", "summary.json", *expected]:
        assert (path / name).is_file(), f"{name} missing from {sorted(p.name for p in path.iterdir())}"
        assert (path / name).stat().st_size > 0
    return json.loads((path / "summary.json").read_text())


def assert_figure_labelled(figure: Any) -> None:
    """Every axes of ``figure`` has a title, both axis labels and a legend with entries."""
    axes = figure.get_axes()
    assert axes
    for ax in axes:
        assert ax.get_title(), "an axes without a title"
        assert ax.get_xlabel() and ax.get_ylabel(), f"unlabelled axes {ax.get_title()!r}"
        legend = ax.get_legend()
        assert legend is not None and legend.get_texts(), f"no legend on {ax.get_title()!r}"


@dataclasses.dataclass(frozen=True)
class TinyConfig:
    """The settings of the tiny experiment (see the ``tiny_experiment`` fixture)."""

    epochs: int = 3
    lr: float = 0.05
    interrupt_at: int = 0  # raise KeyboardInterrupt at the end of this epoch
    nan_at: int = 0  # the loss becomes NaN from this epoch on
    fail_at: int = 0  # raise RuntimeError at the end of this epoch
    seed: int = 0


def tiny_run(config: TinyConfig, ctx):
    """A linear classifier on 64 synthetic points, for runner, sweep and CLI tests."""
    from reglab import BatchIterator, LambdaCallback, fit, seed_everything
    from reglab.experiments import Result

    seed_everything(config.seed)
    g = torch.Generator().manual_seed(config.seed)
    X = torch.randn(64, 4, generator=g)
    y = (X[:, 0] > 0).long()
    model = nn.Linear(4, 2)
    epoch = {"n": 0}

    def loss_fn(out, target):
        loss = nn.functional.cross_entropy(out, target)
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
