"""Per-epoch reports from a sweep's trials, and stopping the trials a scheduler gives up on.

A trial runner attaches an :class:`EpochReporter` to the experiment's run
(through :attr:`reglab.runs.experiment.RunContext.extra_callbacks`, which every
epoch-based experiment passes to ``fit``). After each epoch it hands an
:class:`EpochReport` to a backend's ``report`` function: Ray Tune's
``tune.report`` (for ASHA), or Optuna's ``trial.report`` + ``should_prune``. When
``report`` returns a reason, the reporter asks the engine to stop
(``state.request_stop``) and the trial is recorded with status ``stopped`` and
the epoch it reached (:func:`reglab.sweeps.trial.run_trial`).

Stopped trials never count in the selection (:mod:`reglab.sweeps.selection`);
:func:`scheduler_summary` says how many epochs a scheduler saved against
training every trial to the end.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigError
from ..engine.callbacks import Callback
from ..engine.state import TrainState
from ..runs.runner import make_config
from ..runs.sweep_spec import SweepSpec
from .grid import point_overrides

__all__ = [
    "EpochReport",
    "EpochReporter",
    "Report",
    "numeric_metrics",
    "scheduler_summary",
    "configured_epochs",
    "finite",
    "STOPPED",
    "EPOCHS_RUN",
]

STOPPED = "stopped"
# The row column of the epochs a trial trained (``epochs`` may be a knob).
EPOCHS_RUN = "epochs_run"


@dataclass(frozen=True)
class EpochReport:
    """One finished epoch of a trial.

    Attributes:
        step: epochs finished so far in the trial, over all its ``fit`` calls (1, 2, ...).
        epoch: the epoch within the current ``fit`` (1-based).
        epochs: how many epochs that ``fit`` runs.
        metrics: the epoch's numeric row (``train_loss``, ``val_acc``, ``test_loss``, ...).
    """

    step: int
    epoch: int
    epochs: int
    metrics: dict[str, float]

    @property
    def last(self) -> bool:
        """The last epoch of its ``fit``: the trial's final numbers follow."""
        return self.epoch >= self.epochs


# Returns None to go on, or why the trial should stop.
Report = Callable[[EpochReport], "str | None"]


def numeric_metrics(row: dict[str, Any]) -> dict[str, float]:
    """The finite-or-not real numbers of an epoch row (no booleans, no text)."""
    return {
        k: float(v) for k, v in row.items() if isinstance(v, numbers.Real) and not isinstance(v, bool) and k != "epoch"
    }


class EpochReporter(Callback):
    """Hands every finished epoch to ``report`` and stops training when it answers with a reason.

    After the run, :attr:`epochs` is the number of epochs trained,
    :attr:`last_metrics` the last epoch's row, and :attr:`stop_reason` why the
    backend stopped the trial (None when it ran to the end).
    """

    def __init__(self, report: Report) -> None:
        self.report = report
        self.epochs = 0
        self.last_metrics: dict[str, float] = {}
        self.stop_reason: str | None = None

    @property
    def stopped(self) -> bool:
        return self.stop_reason is not None

    def on_epoch_end(self, state: TrainState, row: dict[str, float]) -> None:
        self.epochs += 1
        self.last_metrics = numeric_metrics(row)
        reason = self.report(EpochReport(self.epochs, state.epoch, state.epochs, dict(self.last_metrics)))
        if reason is not None and self.stop_reason is None:
            self.stop_reason = reason
            state.request_stop(reason)


def _full_epochs(trial_epochs: Sequence[int | None]) -> int | None:
    if any(e is None for e in trial_epochs):
        return None
    return sum(e for e in trial_epochs if e is not None)


def scheduler_summary(rows: Sequence[dict[str, Any]], full_epochs: dict[int, int | None]) -> dict[str, Any]:
    """How much training a scheduler or pruner saved.

    Args:
        rows: the sweep's rows (``epochs_run`` is the epochs a trial trained, ``status``
            ``stopped`` for a trial stopped early).
        full_epochs: each trial's configured epochs (its config's ``epochs``), by
            trial index; None where the config has no such setting.

    Returns:
        ``{"stopped", "epochs_trained", "epochs_full", "epochs_saved", "fraction_saved"}``:
        the epochs the rows trained against the epochs the same trials would have
        trained without stopping (None where unknown).
    """
    trained = [r for r in rows if isinstance(r.get(EPOCHS_RUN), int) and not isinstance(r.get(EPOCHS_RUN), bool)]
    stopped = sum(r.get("status") == STOPPED for r in rows)
    epochs_trained = sum(int(r[EPOCHS_RUN]) for r in trained)
    full = _full_epochs([full_epochs.get(int(r["trial"])) for r in trained])
    out: dict[str, Any] = {"stopped": stopped, "epochs_trained": epochs_trained, "epochs_full": full}
    if full is None:
        out.update(epochs_saved=None, fraction_saved=None)
    else:
        saved = max(0, full - epochs_trained)
        out.update(epochs_saved=saved, fraction_saved=saved / full if full else 0.0)
    return out


def configured_epochs(
    experiment: str, spec: SweepSpec, knobs: Sequence[str], rows: Sequence[dict[str, Any]]
) -> dict[int, int | None]:
    """Each row's configured ``epochs`` (its grid point's config), by trial index; None
    where the config has no ``epochs`` setting."""
    cache: dict[str, int | None] = {}
    out: dict[int, int | None] = {}
    for row in rows:
        point = {k: row[k] for k in knobs}
        key = repr(sorted(point.items()))
        if key not in cache:
            try:
                epochs = getattr(make_config(experiment, point_overrides(point, spec)), "epochs", None)
            except ConfigError:
                epochs = None
            cache[key] = epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None
        out[int(row["trial"])] = cache[key]
    return out


def finite(value: Any) -> bool:
    """A real, finite number (not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
