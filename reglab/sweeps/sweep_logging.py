"""A sweep in TensorBoard or MLflow: one hyperparameter row per trial.

:class:`SweepLogging` runs in the sweep's own process. It prepares the spec
that every trial opens its logger from (:attr:`SweepLogging.trial_spec`):
TensorBoard writes each trial into ``SWEEP/tb/trial-NNNN/``, MLflow makes one
run per trial nested under a run for the whole sweep, which it creates here
(params: the grid, seeds, selection; at the end the selection as tags and the
selected configuration's metrics). A trial's hyperparameters are its knobs,
its seed and, with K-fold selection, its fold; its metrics are the per-epoch
history (where the trial trains through ``fit`` in a worker) and its final
train / validation / test numbers.

The vectorized backend trains all variants as one stacked model, with no
per-trial history: :meth:`SweepLogging.log_rows` logs each finished row (its
hyperparameters and final metrics) from this process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..loggers import LoggerSpec, RunLogger
from .store import SweepStore
from .trial import Trial, open_trial_logger

__all__ = ["SweepLogging"]


def _fold(row: Mapping[str, Any]) -> int | None:
    fold = row.get("fold")
    return None if fold in (None, "") else int(fold)


class SweepLogging:
    """The logging of one sweep (made in the sweep's process, before any trial runs).

    Args:
        spec: the logger asked for (``--logger``); a TensorBoard ``log_dir`` of
            None means ``SWEEP/tb``.
        experiment: the swept experiment.
        folder: the sweep folder.
        manifest: ``sweep.json``'s content (its grid, seeds and selection become
            the MLflow parent run's params).
    """

    def __init__(self, spec: LoggerSpec, experiment: str, folder: Path, manifest: Mapping[str, Any]) -> None:
        spec = spec.absolute()  # trials may run elsewhere: a Ray worker's working folder is its trial's
        spec.check(experiment)
        self.experiment = experiment
        self.knobs: list[str] = list(manifest.get("knobs", []))
        self.parent: RunLogger | None = None
        if spec.kind == "tensorboard":
            self.trial_spec = spec.replace(log_dir=spec.log_dir or str(folder / "tb")).absolute()
            return
        params: dict[str, Any] = {f"grid.{k}": repr(v) for k, v in manifest.get("grid", {}).items()}
        params.update(seeds=manifest.get("seeds"), select=manifest.get("select"), backend=manifest.get("backend"))
        self.parent = spec.open(
            experiment,
            name=f"sweep {folder.name}",
            hparams=params,
            tags={"reglab.sweep_dir": str(folder.resolve())},
        )
        self.parent.start()
        self.trial_spec = spec.replace(parent_run_id=getattr(self.parent, "run_id", None))

    def log_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Log finished rows that no trial logged itself: hyperparameters and final metrics."""
        for row in rows:
            trial = Trial(int(row["trial"]), {k: row[k] for k in self.knobs if k in row}, row["seed"], _fold(row))
            logger = open_trial_logger(self.trial_spec, self.experiment, trial)
            if logger is not None:
                metrics = {k: v for k, v in row.items() if k not in self.knobs}  # a knob may be named train_...
                logger.close(metrics, str(row.get("status", "complete")))

    def recorders(
        self, store: SweepStore
    ) -> tuple[Callable[[dict[str, Any]], None], Callable[[list[dict[str, Any]]], None]]:
        """``store.record`` and ``store.record_many`` that also log the rows (the vectorized backend's)."""

        def record(row: dict[str, Any]) -> None:
            store.record(row)
            self.log_rows([row])

        def record_many(rows: list[dict[str, Any]]) -> None:
            store.record_many(rows)
            self.log_rows(rows)

        return record, record_many

    def close(self, report: Mapping[str, Any], status: str) -> None:
        """End the sweep's own run (MLflow) with the selected configuration's numbers."""
        if self.parent is None:
            return
        selected = report.get("selected") or {}
        summary = {k: v for k, v in selected.items() if k.startswith(("val_", "test_")) and not k.endswith("_std")}
        if isinstance(report.get("test_regret"), (int, float)):
            summary["test_regret"] = report["test_regret"]
        self.parent.close(summary, status)
