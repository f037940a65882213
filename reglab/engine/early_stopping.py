"""Early stopping: stop when a monitored metric stops improving, and keep the best weights.

The oldest regulariser of neural networks (Morgan & Bourlard, 1990; Prechelt,
1998, "Early stopping — but when?"): training is a path through weight space
and the validation curve picks the point on it.

Rule (as in Keras and Lightning): a value *improves* when it beats the best so
far by more than ``min_delta`` (``value < best - min_delta`` for
``mode="min"``, ``value > best + min_delta`` for ``"max"``); NaN never
improves. After ``patience`` epochs in a row without improvement, stop.
``patience=0`` stops at the first epoch that does not improve.

:meth:`EarlyStopping.step` is the pure decision ``value -> (should_stop,
reason)``; as a :func:`reglab.fit` callback it reads ``row[monitor]`` at each
epoch's end (``row`` is the history row: ``train_loss``, ``val_loss``,
``val_acc``... for ``eval_sets={"val": ...}``), asks the trainer to stop
with ``state.request_stop(reason)`` (the reason ends up in
``History.stop_reason``), snapshots the weights (a deep copy of the
``state_dict``) whenever the metric improves, and with ``restore_best=True``
loads the best snapshot back when ``fit`` ends. ``state_dict`` /
``load_state_dict`` carry everything (counters and snapshot) for an exact
resume. The state persists across ``fit`` calls (that is what resuming
needs); call :meth:`EarlyStopping.reset` to reuse one object for a new run.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from ..core.checks import check_bool, check_choice, check_float, check_int, invalid_argument
from .callbacks import Callback
from .state import TrainState

__all__ = ["EarlyStopping"]


def _fmt(value: float) -> str:
    return f"{value:.6g}"


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    Args:
        monitor: the history column to watch, e.g. ``"val_loss"`` or ``"val_acc"``.
        mode: ``"min"`` (losses) or ``"max"`` (accuracies).
        patience: epochs without improvement tolerated, ``>= 0``.
        min_delta: the margin an improvement must exceed, ``>= 0``.
        restore_best: load the best epoch's weights back when ``fit`` ends.

    Attributes:
        best_value: the best value seen (``inf``/``-inf`` before any).
        best_epoch: the epoch of ``best_value`` (None before any).
        wait: epochs since the last improvement.
        stopped_epoch: the epoch at which stopping was first decided (None if not).
        reason: the last decision's explanation.
        restored_epoch: the epoch whose weights were restored at fit end (None if none).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "min",
        patience: int = 5,
        min_delta: float = 0.0,
        restore_best: bool = True,
    ) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise invalid_argument("monitor", "a metric name such as 'val_loss'", monitor)
        self.monitor = monitor
        self.mode = check_choice("mode", mode, ("min", "max"))
        self.patience = check_int("patience", patience, low=0)
        self.min_delta = check_float("min_delta", min_delta, low=0.0)
        self.restore_best = check_bool("restore_best", restore_best)
        self.reset()

    def reset(self) -> None:
        """Forget everything seen: a fresh start for a new run."""
        self.best_value = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.wait = 0
        self.epochs_seen = 0
        self.stopped_epoch: int | None = None
        self.reason: str | None = None
        self.best_weights: dict[str, Any] | None = None
        self.restored_epoch: int | None = None

    def get_config(self) -> dict[str, Any]:
        """Exactly the constructor arguments."""
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "patience": self.patience,
            "min_delta": self.min_delta,
            "restore_best": self.restore_best,
        }

    def __repr__(self) -> str:
        return "EarlyStopping(" + ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()) + ")"

    # --- the pure decision ------------------------------------------------------

    def improves(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta`` (NaN never does)."""
        if math.isnan(value):
            return False
        if self.mode == "min":
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta

    def step(self, value: float, epoch: int | None = None) -> tuple[bool, str]:
        """Take one epoch's value; return ``(should_stop, reason)``.

        Args:
            value: the monitored metric of this epoch.
            epoch: its epoch number; by default one more than the previous call's.

        Returns:
            ``should_stop`` and a sentence naming the monitor, the best value
            and its epoch, and the epochs waited.
        """
        value = float(value)
        self.epochs_seen = self.epochs_seen + 1 if epoch is None else int(epoch)
        if self.improves(value):
            previous = self.best_value
            self.best_value, self.best_epoch, self.wait = value, self.epochs_seen, 0
            before = f" from {_fmt(previous)}" if math.isfinite(previous) else ""
            self.reason = f"{self.monitor} improved{before} to {_fmt(value)} at epoch {self.epochs_seen}"
            return False, self.reason
        self.wait += 1
        best = (
            f"best {_fmt(self.best_value)} at epoch {self.best_epoch}"
            if self.best_epoch is not None
            else "no valid value yet"
        )
        waited = f"{self.wait} epoch{'s' if self.wait != 1 else ''}"
        if self.wait >= self.patience:
            if self.stopped_epoch is None:
                self.stopped_epoch = self.epochs_seen
            self.reason = (
                f"early stopping at epoch {self.epochs_seen}: {self.monitor} did not improve for {waited} "
                f"({best}; patience {self.patience}, min_delta {self.min_delta:g}, mode {self.mode})"
            )
            return True, self.reason
        self.reason = (
            f"{self.monitor} did not improve for {waited} ({_fmt(value)} at epoch {self.epochs_seen}; "
            f"{best}; patience {self.patience})"
        )
        return False, self.reason

    # --- resume ------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue with the same decisions (the weight snapshot included)."""
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "epochs_seen": self.epochs_seen,
            "stopped_epoch": self.stopped_epoch,
            "reason": self.reason,
            "best_weights": copy.deepcopy(self.best_weights),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s output; the monitor and mode must match."""
        keys = ("best_value", "best_epoch", "wait", "epochs_seen", "stopped_epoch", "reason", "best_weights")
        if not isinstance(state, dict) or any(k not in state for k in keys):
            raise invalid_argument("state", "a dict from EarlyStopping.state_dict()", type(state).__name__)
        if (state.get("monitor"), state.get("mode")) != (self.monitor, self.mode):
            raise invalid_argument(
                "state",
                f"the state of an EarlyStopping on {self.monitor!r} in mode {self.mode!r}",
                f"{state.get('monitor')!r} in mode {state.get('mode')!r}",
            )
        self.best_value = float(state["best_value"])
        self.best_epoch = state["best_epoch"]
        self.wait = int(state["wait"])
        self.epochs_seen = int(state["epochs_seen"])
        self.stopped_epoch = state["stopped_epoch"]
        self.reason = state["reason"]
        self.best_weights = copy.deepcopy(state["best_weights"])

    # --- the fit callback ----------------------------------------------------------

    def on_epoch_end(self, state: TrainState, row: dict[str, float]) -> None:
        if self.monitor not in row:
            available = ", ".join(repr(k) for k in row if k != "epoch")
            raise invalid_argument("monitor", f"one of this epoch's metrics ({available})", self.monitor)
        # Epochs are counted by this object, so a resumed run continues the count.
        should_stop, reason = self.step(row[self.monitor])
        if self.restore_best and self.wait == 0:  # improved this epoch
            self.best_weights = copy.deepcopy(state.model.state_dict())
        if should_stop:
            state.request_stop(reason)

    def on_fit_end(self, state: TrainState) -> None:
        if self.restore_best and self.best_weights is not None:
            state.model.load_state_dict(self.best_weights)
            self.restored_epoch = self.best_epoch
