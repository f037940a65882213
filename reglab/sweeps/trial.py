"""One trial: run an experiment's function with overrides, without a run folder.

A :class:`Trial` is plain, picklable data (it travels to worker processes and
Ray actors). :func:`run_trial` builds the config, runs the experiment with
``RunContext(run_dir=None, quiet=True)`` and returns one results row: the
grid point, seed, fold, the train/val/test metrics of the summary, seconds,
``status`` (``complete``, ``diverged`` or ``failed``) and the error text. An
exception never escapes (Ctrl-C does): one bad trial never stops a sweep.

Given an :class:`~reglab.sweeps.reporting.EpochReporter`, the run reports every
epoch to a search backend; the row then has ``epochs_run`` (the epochs trained) and,
when the backend stopped the trial early, status ``stopped`` and why in ``error``.
"""

from __future__ import annotations

import math
import numbers
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import torch

from ..core.errors import DivergenceError
from ..engine.callbacks import Callback
from ..engine.devices import resolve_device
from ..runs.experiment import RunContext, get_experiment
from ..runs.runner import make_config
from .reporting import EPOCHS_RUN, STOPPED, EpochReporter

__all__ = ["Trial", "run_trial", "metrics_of", "trial_row", "trial_from_json"]

_METRIC_PREFIXES = ("train_", "val_", "test_")


@dataclass(frozen=True)
class Trial:
    """One run of a sweep.

    Attributes:
        index: position in the sweep (the row's ``trial`` column).
        point: the grid point ``{knob: value}`` as the user wrote it.
        seed: the training seed.
        fold: the validation fold with K-fold selection, else None.
        overrides: the full config overrides (knobs expanded, seed, split).
    """

    index: int
    point: dict[str, Any]
    seed: int
    fold: int | None
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Identity across a resume: the point, seed and fold."""
        return repr((sorted(self.point.items()), self.seed, self.fold))


def _tuples(value: Any) -> Any:
    """JSON's lists back to the tuples the grid made (a sweep's values are never lists)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def trial_from_json(data: dict[str, Any]) -> Trial:
    """The :class:`Trial` that ``dataclasses.asdict`` wrote into ``sweep.json``, tuples restored."""
    return Trial(
        index=data["index"],
        point=_tuples(dict(data["point"])),
        seed=data["seed"],
        fold=data["fold"],
        overrides=_tuples(dict(data["overrides"])),
    )


def metrics_of(summary: dict[str, Any]) -> dict[str, float]:
    """The numeric ``train_*``, ``val_*`` and ``test_*`` entries of a summary (not timings)."""
    return {
        k: float(v)
        for k, v in summary.items()
        if k.startswith(_METRIC_PREFIXES)
        and not k.endswith("seconds")
        and isinstance(v, numbers.Real)
        and not isinstance(v, bool)
    }


def trial_row(trial: Trial, metrics: dict[str, float], seconds: float, status: str, error: str = "") -> dict[str, Any]:
    """The ``results.csv`` row of a finished trial."""
    row: dict[str, Any] = {
        "trial": trial.index,
        **trial.point,
        "seed": trial.seed,
        "fold": "" if trial.fold is None else trial.fold,
    }
    row.update(metrics)
    row.update(seconds=seconds, status=status, error=error)
    return row


def run_trial(
    experiment: str, trial: Trial, device: str | torch.device = "cpu", reporter: EpochReporter | None = None
) -> dict[str, Any]:
    """Run ``trial`` of ``experiment`` (a reference, ``NAME`` or ``SOURCE:NAME``: in a fresh
    worker the source is imported first) and return its results row (never raises but for
    Ctrl-C); ``reporter`` receives every epoch and may stop the trial early."""

    start = time.perf_counter()
    try:
        config = make_config(experiment, trial.overrides)
        extra: list[Callback] = [reporter] if reporter is not None else []
        ctx = RunContext(device=resolve_device(device), run_dir=None, quiet=True, progress=False, extra_callbacks=extra)
        result = get_experiment(experiment).run(config, ctx)
        metrics = metrics_of(result.summary)
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        status, error = ("diverged", f"non-finite {', '.join(bad)}") if bad else ("complete", "")
        if reporter is not None and reporter.stopped and status == "complete":
            status, error = STOPPED, str(reporter.stop_reason)
    except DivergenceError as exc:
        metrics, status, error = {}, "diverged", f"DivergenceError: {exc}"
    except Exception as exc:  # recorded in the row; the sweep goes on
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" (at {last[0].filename}:{last[0].lineno})" if last else ""
        metrics, status, error = {}, "failed", f"{type(exc).__name__}: {exc}{where}"
    row = trial_row(trial, metrics, time.perf_counter() - start, status, error)
    if reporter is not None and (reporter.epochs or reporter.stopped):  # an epoch-based experiment
        row[EPOCHS_RUN] = reporter.epochs
    return row
