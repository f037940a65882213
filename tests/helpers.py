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
  ``tiny_experiment`` fixture registers;
- users' experiments: ``write_user_experiment`` (a file registering a tiny
  experiment outside reglab; the ``user_experiments`` fixture forgets it after the test).
- timm: ``timm_drop_file``, ``timm_drop`` (timm's own DropPath / DropBlock code);
- a loopback-only network namespace for the Ray tests: ``in_loopback_namespace``,
  ``loopback_namespace_refusal``, ``run_in_loopback_namespace``; the searched
  ridge experiment ``SgdRidgeConfig``, ``sgd_ridge_run``;
- loggers, read back through the tools' own readers: ``read_tensorboard``
  (TensorBoard's ``EventAccumulator``), ``mlflow_runs`` (``MlflowClient``).
- run folders written by hand, with chosen numbers: ``write_run_folder``.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import importlib.util
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


# --- timm ----------------------------------------------------------------------------


def timm_drop_file() -> Path | None:
    """The installed ``timm/layers/drop.py`` (timm's DropPath, DropBlock2d and
    calculate_drop_path_rates), found without importing timm; None without timm."""
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "layers" / "drop.py"
    return path if path.is_file() else None


@functools.cache
def timm_drop() -> Any:
    """timm's ``layers/drop.py`` module, the real code, or a pytest skip without timm.

    ``import timm`` needs torchvision, which has no build for the CPU torch the
    tests run on; ``drop.py`` imports only torch, so where ``timm.layers`` cannot
    be imported the file is loaded on its own (as ``reglab check path/to/drop.py:DropPath``
    would load it).
    """
    try:
        import timm.layers.drop as drop

        return drop
    except Exception:
        path = timm_drop_file()
        if path is None:
            pytest.skip("timm is not installed (scripts/setup.sh installs it with the timm extra)")
        spec = importlib.util.spec_from_file_location("_timm_layers_drop", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


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
    l2: float = 0.0  # fit(penalty=L2(l2)) when > 0
    seed: int = 0


def tiny_run(config: TinyConfig, ctx):
    """A linear classifier on 64 synthetic points, for runner, sweep and CLI tests."""
    from reglab import L2, BatchIterator, LambdaCallback, fit, seed_everything
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
        penalty=L2(config.l2) if config.l2 > 0 else None,
    )
    return Result(summary=dict(history.last), rows=history.rows, model=model)


USER_EXPERIMENT = """
from dataclasses import dataclass, field

import torch
from torch import nn

from reglab import BatchIterator, fit, seed_everything
from reglab.experiments import Result, register, setting_help


@dataclass(frozen=True)
class UserConfig:
    epochs: int = field(default=3, metadata=setting_help("training epochs"))
    lr: float = 0.1
    val_fraction: float = 0.0
    seed: int = 0


@register({name!r}, summary="a user's linear classifier", config_type=UserConfig, quick={{"epochs": 1}})
def run_user(config, ctx):
    seed_everything(config.seed)
    g = torch.Generator().manual_seed(config.seed)
    X = torch.randn(160, 5, generator=g)
    y = (X[:, 0] - X[:, 1] > 0).long()
    n_val = round(config.val_fraction * 128)
    model = nn.Linear(5, 2)
    eval_sets = {{"test": BatchIterator(X[128:], y[128:], batch_size=64, shuffle=False)}}
    if n_val:
        eval_sets = {{"val": BatchIterator(X[:n_val], y[:n_val], batch_size=64, shuffle=False), **eval_sets}}
    history = fit(
        model,
        BatchIterator(X[n_val:128], y[n_val:128], batch_size=16, seed=config.seed),
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=config.lr),
        epochs=config.epochs,
        eval_sets=eval_sets,
        device=ctx.device,
        callbacks=ctx.callbacks(),
        progress=False,
    )
    return Result(summary=dict(history.last), rows=history.rows, model=model)
"""


def write_user_experiment(path: Path, name: str = "user-linear", extra: str = "") -> Path:
    """Write a Python file registering experiment ``name`` (a linear classifier on synthetic
    data, with a ``val_fraction`` setting for ``--select val=F``), plus ``extra`` code."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(USER_EXPERIMENT.format(name=name) + extra)
    return path


# --- a loopback-only network namespace (the Ray tests) -----------------------------

# Set inside the namespace that run_in_loopback_namespace makes.
IN_NAMESPACE_ENV = "REGLAB_TEST_LOOPBACK_NAMESPACE"
# A network namespace with only loopback (up), in a PID namespace of its own with
# /proc remounted: when its first process ends, the kernel ends every process in
# it, and tools that list processes (`ray stop`) see only the namespace's.
_UNSHARE = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]


def in_loopback_namespace() -> bool:
    import os

    return os.environ.get(IN_NAMESPACE_ENV) == "1"


def loopback_namespace_refusal() -> str | None:
    """Why no loopback-only namespace can be made here, or None when one can."""
    import shutil
    import subprocess
    import sys

    if not sys.platform.startswith("linux"):
        return f"network namespaces are Linux's ({sys.platform})"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (util-linux, iproute2)"
    proc = subprocess.run([*_UNSHARE, "ip", "link", "set", "lo", "up"], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        return f"`unshare --net --pid` is not allowed here: {proc.stderr.strip() or proc.returncode}"
    return None


def run_in_loopback_namespace(argv: list[str], env: dict[str, str], timeout: float) -> Any:
    """Run ``argv`` in a new loopback-only network namespace (see ``_UNSHARE``);
    return the ``subprocess.CompletedProcess`` (stdout and stderr together)."""
    import subprocess

    command = [*_UNSHARE, "sh", "-c", 'ip link set lo up && "$@"', "sh", *argv]
    return subprocess.run(
        command,
        env={**env, IN_NAMESPACE_ENV: "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


# --- a small experiment to search (validation split, reports every epoch) ----------


@dataclasses.dataclass(frozen=True)
class SgdRidgeConfig:
    """The settings of the ridge search experiment (see ``sgd_ridge_run``)."""

    lr: float = 0.05
    wd: float = 0.0
    epochs: int = 8
    seed: int = 0
    val_fraction: float = 0.0
    kfold: int = 0
    fold: int = 0
    test_shift: float = 0.0  # the test targets' true weights move by this much


def sgd_ridge_run(config: SgdRidgeConfig, ctx):
    """Linear regression by SGD with weight decay ``wd`` on 96 noisy points of 8
    features (a validation split as configured), through ``fit`` with the context's
    callbacks, so that a sweep sees every epoch; the test set has its own draws."""
    from reglab import BatchIterator, fit, seed_everything
    from reglab.data import validation_split
    from reglab.experiments import Result

    seed_everything(config.seed)
    g = torch.Generator().manual_seed(config.seed)
    w = torch.randn(8, 1, generator=g)
    X, Xt = torch.randn(96, 8, generator=g), torch.randn(256, 8, generator=g)
    y = X @ w + 0.5 * torch.randn(96, 1, generator=g)
    yt = Xt @ (w + config.test_shift) + 0.5 * torch.randn(256, 1, generator=g)
    train, val = validation_split(96, val_fraction=config.val_fraction, kfold=config.kfold, fold=config.fold)
    evals = {"test": BatchIterator(Xt, yt, batch_size=256, shuffle=False)}
    if val is not None:
        evals = {"val": BatchIterator(X[val], y[val], batch_size=256, shuffle=False), **evals}
    model = nn.Linear(8, 1)
    history = fit(
        model,
        BatchIterator(X[train], y[train], batch_size=16, seed=config.seed),
        loss_fn=nn.MSELoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=config.lr, weight_decay=config.wd),
        epochs=config.epochs,
        eval_sets=evals,
        device=ctx.device,
        callbacks=ctx.callbacks(),
        progress=False,
    )
    return Result(summary=dict(history.last), rows=history.rows, model=model)


# --- loggers, read back through the tools themselves ------------------------------


@dataclasses.dataclass
class TensorBoardRun:
    """What TensorBoard's own reader finds in one folder of event files."""

    scalars: dict[str, list[tuple[int, float]]]  # tag -> [(step, value), ...]
    hparams: dict[str, Any]  # the HParams session's hyperparameters
    status: str | None  # the session end's status name, e.g. STATUS_SUCCESS


def read_tensorboard(folder: Path) -> TensorBoardRun:
    """Read ``folder``'s event files with ``EventAccumulator`` and the HParams plugin's parsers."""
    from google.protobuf import json_format
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import api_pb2, metadata

    events = EventAccumulator(str(folder))
    events.Reload()
    scalars = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    hparams: dict[str, Any] = {}
    status = None
    if metadata.SESSION_START_INFO_TAG in content:
        start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
        hparams = {k: json_format.MessageToDict(v) for k, v in start.hparams.items()}
    if metadata.SESSION_END_INFO_TAG in content:
        end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
        status = api_pb2.Status.Name(end.status)
    return TensorBoardRun(scalars, hparams, status)


def mlflow_runs(uri: str, experiment: str) -> dict[str, Any]:
    """``{run name: mlflow Run}`` of MLflow experiment ``experiment`` at ``uri``, through ``MlflowClient``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment!r}"
    return {run.info.run_name: run for run in client.search_runs([found.experiment_id])}


# --- run folders with chosen numbers ----------------------------------------------------


def write_run_folder(
    folder: Path,
    *,
    config: dict[str, Any],
    seed: int,
    summary: dict[str, Any] | None,
    curve: list[dict[str, float]] = (),
    experiment: str = "dropout",
) -> Path:
    """A run folder as ``reglab run`` leaves it (``config.json``, ``summary.json`` unless
    ``summary`` is None, ``metrics.csv`` when ``curve`` has rows), with the given numbers.
    ``summary`` without a ``status`` is a complete run."""
    run = RunDir(folder)
    folder.mkdir(parents=True)
    run.write_json("config.json", {"experiment": experiment, "config": {**config, "seed": seed}, "device": "cpu"})
    if summary is not None:
        run.write_json("summary.json", {"experiment": experiment, "status": "complete", **summary, "seed": seed})
    if curve:
        run.write_csv("metrics.csv", list(curve))
    return folder
