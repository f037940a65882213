"""What every logger does: a ``fit`` callback sending per-epoch scalars, the
hyperparameters and the final metrics to a tracking tool.

A :class:`RunLogger` logs every numeric metric column of each history row
(``epoch`` is the step, and the epoch's ``seconds`` are left out: a timing
would be one more "metric" column in every comparison; a second ``fit`` of
the same run continues the steps), the
hyperparameters once before the first epoch, and on :meth:`RunLogger.close`
the final metrics of a summary and the run's status. Used directly as a
``fit`` callback it closes itself when ``fit`` ends; the runner and the sweeps
open it with ``close_after_fit=False`` and close it with the run's summary.

A logger never costs a result: a failure of the tracking tool after the
logger is open prints one warning and turns the logger off, and training goes
on (the run directory stays the record). Failures before anything runs (the
package missing, a bad address) raise at once.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ..engine.callbacks import Callback
from ..engine.state import TrainState

__all__ = ["RunLogger", "flat_hparams", "final_metrics", "status_of", "warn_logger_failed", "STATUSES"]

#: The statuses a run or trial ends with (``summary.json``'s ``status``).
STATUSES = ("complete", "interrupted", "diverged", "failed")

_FINAL_PREFIXES = ("train_", "val_", "test_")


def flat_hparams(values: Mapping[str, Any], prefix: str = "") -> dict[str, bool | int | float | str]:
    """Hyperparameters as flat ``name -> bool | number | str`` (what trackers store):
    nested mappings become ``outer.inner``, tuples, lists and None their ``repr``."""
    out: dict[str, bool | int | float | str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_hparams(value, prefix=f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            out[name] = repr(value)
    return out


def _numeric(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def final_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric ``train_*``, ``val_*`` and ``test_*`` entries of a summary (timings left out)."""
    return {
        k: float(v)
        for k, v in summary.items()
        if k.startswith(_FINAL_PREFIXES) and not k.endswith("seconds") and _numeric(v) and math.isfinite(float(v))
    }


def warn_logger_failed(tool: str, exc: BaseException) -> None:
    """The one warning of a logger that failed (training goes on without it)."""
    print(
        f"reglab: warning: the {tool} logger failed and is off for the rest of this run "
        f"({type(exc).__name__}: {exc}); training goes on and the run directory keeps every result",
        file=sys.stderr,
    )


def status_of(stop_reason: str | None) -> str:
    """The run status that ``fit``'s stop reason means (early stopping is a complete run)."""
    if stop_reason == "interrupted":
        return "interrupted"
    if stop_reason == "diverged":
        return "diverged"
    if stop_reason is not None and stop_reason.startswith("error"):
        return "failed"
    return "complete"


class RunLogger(Callback):
    """Base class of the loggers: subclasses write through ``_start``, ``_log`` and ``_end``.

    Args:
        hparams: the hyperparameters (e.g. the run's config); nested values are
            flattened by :func:`flat_hparams`.
        close_after_fit: close when ``fit`` ends (a logger used directly as a
            callback); False leaves closing to the caller (:meth:`close`).
    """

    #: The tool's name, for the warning when it fails.
    tool = "logger"

    def __init__(self, *, hparams: Mapping[str, Any] | None = None, close_after_fit: bool = True) -> None:
        self.hparams = flat_hparams(hparams or {})
        self.close_after_fit = close_after_fit
        self.step = 0  # the last step logged (epochs, across fits)
        self.logged: dict[str, float] = {}  # the last value logged per metric
        self.started = False
        self.closed = False
        self.broken = False
        self._offset = 0

    # -- what a subclass writes ------------------------------------------------------------------------------------

    def _start(self, hparams: dict[str, bool | int | float | str]) -> None:
        """Open the destination and record the hyperparameters."""

    def _log(self, metrics: dict[str, float], step: int) -> None:
        """Record ``metrics`` at ``step``."""

    def _end(self, status: str) -> None:
        """Record the status (one of :data:`STATUSES`) and release the destination."""

    # -- the shared behaviour --------------------------------------------------------------------------------------

    def _guard(self, action: Callable[[], None]) -> None:
        if self.broken:
            return
        try:
            action()
        except Exception as exc:
            self.broken = True
            warn_logger_failed(self.tool, exc)

    def start(self) -> None:
        """Open the destination and write the hyperparameters (once; ``fit`` calls it)."""
        if not self.started:
            self.started = True
            self._guard(lambda: self._start(dict(self.hparams)))

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        """Log the numeric entries of ``metrics`` at ``step``."""
        self.start()
        numeric = {k: float(v) for k, v in metrics.items() if _numeric(v)}
        if numeric:
            self._guard(lambda: self._log(numeric, step))
            self.logged.update(numeric)
        self.step = max(self.step, step)

    def on_fit_start(self, state: TrainState) -> None:
        self.start()
        self._offset = self.step

    def on_epoch_end(self, state: TrainState, row: dict[str, float]) -> None:
        metrics = {k: v for k, v in row.items() if k not in ("epoch", "seconds")}
        self.log_metrics(metrics, self._offset + int(row.get("epoch", len(state.history))))

    def on_fit_end(self, state: TrainState) -> None:
        if self.close_after_fit:
            self.close(status=status_of(state.stop_reason))

    def close(self, summary: Mapping[str, Any] | None = None, status: str = "complete") -> None:
        """Log the final metrics of ``summary`` not logged already with the same
        value (at the last step), record ``status`` and release the destination.
        Closing twice does nothing."""
        if self.closed:
            return
        self.start()
        final = {k: v for k, v in final_metrics(summary or {}).items() if self.logged.get(k) != v}
        if final:
            self.log_metrics(final, self.step)
        self.closed = True
        self._guard(lambda: self._end(status if status in STATUSES else "failed"))
