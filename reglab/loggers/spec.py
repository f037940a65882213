"""Which logger, as plain picklable data: ``reglab run/sweep --logger ...``.

A :class:`LoggerSpec` names the kind of logger and where it writes. The runner
opens one logger per run from it (:meth:`LoggerSpec.open`), and a sweep hands
it to its trials, which may run in worker processes or on Ray workers: a live
logger (an open file, a database client) cannot travel there, its spec can.

Where things go:

- ``tensorboard``: ``log_dir`` is the folder of event files: a run's ``tb/``
  (the run's events directly in it), or a sweep's ``tb/`` (one subfolder
  ``trial-NNNN`` per trial, so TensorBoard's HParams tab has a row per trial);
- ``mlflow``: ``tracking_uri`` (``reglab run`` defaults it to
  ``sqlite:///<the runs folder's parent>/mlruns.db``), the MLflow experiment
  named after the reglab experiment, runs named after the run folder, a
  sweep's trials nested under the sweep's run (``parent_run_id``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.checks import check_choice
from ..core.errors import ConfigError
from .base import RunLogger
from .mlflow_logger import MLflowLogger, experiment_id, import_mlflow_client, mlflow_client
from .tensorboard_logger import TensorBoardLogger, import_summary_writer

__all__ = ["LOGGERS", "LoggerSpec", "default_mlflow_uri", "logger_spec"]

LOGGERS = ("tensorboard", "mlflow")


def default_mlflow_uri(out: str | Path) -> str:
    """``sqlite:///ABS/mlruns.db`` beside the folder ``out`` (in its parent), which is made if missing."""
    parent = Path(out).resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{parent / 'mlruns.db'}"


def logger_spec(
    logger: str | LoggerSpec | None, *, mlflow_uri: str | None = None, out: str | Path | None = "runs"
) -> LoggerSpec | None:
    """The spec of ``--logger KIND`` (a spec is returned as it is; None: no logger).
    MLflow's store defaults to :func:`default_mlflow_uri` of ``out``."""
    if logger is None or isinstance(logger, LoggerSpec):
        return logger
    check_choice("logger", logger, LOGGERS)
    if logger == "mlflow" and mlflow_uri is None:
        mlflow_uri = default_mlflow_uri(out if out is not None else "runs")
    return LoggerSpec(logger, tracking_uri=mlflow_uri if logger == "mlflow" else None)


@dataclass(frozen=True)
class LoggerSpec:
    """A logger to open later, possibly in another process.

    Attributes:
        kind: ``"tensorboard"`` or ``"mlflow"``.
        log_dir: TensorBoard: the folder of event files (None: chosen by the
            runner or the sweep, ``tb/`` in the run or sweep folder).
        tracking_uri: MLflow: the tracking store.
        experiment: MLflow: the experiment name (None: the reglab experiment's name).
        parent_run_id: MLflow: the run to nest under (a sweep's).
    """

    kind: str
    log_dir: str | None = None
    tracking_uri: str | None = None
    experiment: str | None = None
    parent_run_id: str | None = None

    def __post_init__(self) -> None:
        check_choice("logger", self.kind, LOGGERS)
        if self.kind == "mlflow" and not self.tracking_uri:
            raise ConfigError("the mlflow logger needs a tracking URI (--mlflow-uri), e.g. sqlite:///mlruns.db")

    def replace(self, **changes: Any) -> LoggerSpec:
        return dataclasses.replace(self, **changes)

    def absolute(self) -> LoggerSpec:
        """The spec with ``log_dir`` and a SQLite store's file as absolute paths, so that
        it means the same in a process with another working folder (a Ray worker's)."""
        log_dir = str(Path(self.log_dir).resolve()) if self.log_dir is not None else None
        uri = self.tracking_uri
        prefix = "sqlite:///"
        if uri is not None and uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
            file = uri[len(prefix) :]
            if file and file != ":memory:":
                uri = prefix + str(Path(file).resolve())
        return self.replace(log_dir=log_dir, tracking_uri=uri)

    def check(self, experiment: str) -> None:
        """Fail now, before anything runs, if the logger cannot work: its package is
        missing (ImportError naming the ``pip install``) or, for MLflow, the
        tracking store cannot be opened (ConfigError). Also makes MLflow's
        database and experiment, so that trials in parallel never race to."""
        if self.kind == "tensorboard":
            import_summary_writer()
            return
        import_mlflow_client()  # a missing extra is a MissingExtraError, not a bad store
        try:
            experiment_id(mlflow_client(str(self.tracking_uri)), self.experiment or experiment)
        except Exception as exc:
            raise ConfigError(
                f"the mlflow logger could not open the tracking store {self.tracking_uri!r} "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            ) from None

    def open(
        self,
        experiment: str,
        *,
        name: str = "",
        hparams: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        purge_step: int | None = None,
    ) -> RunLogger:
        """A logger for one run or trial, kept open across its fits (the caller closes it).

        Args:
            experiment: the reglab experiment (MLflow's experiment name by default).
            name: the run's name: TensorBoard's subfolder of ``log_dir`` ("" for
                ``log_dir`` itself), MLflow's run name.
            hparams: the hyperparameters (a run's config, a trial's knobs and seed).
            tags: MLflow tags (TensorBoard has none).
            purge_step: TensorBoard: hide the folder's earlier events from this step on
                (a resumed run); MLflow starts a new run instead.
        """
        if self.kind == "tensorboard":
            if self.log_dir is None:
                raise ConfigError("the tensorboard logger needs a folder: a run directory (out) or a log_dir")
            folder = Path(self.log_dir) / name if name else Path(self.log_dir)
            return TensorBoardLogger(folder, hparams=hparams, close_after_fit=False, purge_step=purge_step)
        return MLflowLogger(
            str(self.tracking_uri),
            self.experiment or experiment,
            run_name=name or None,
            hparams=hparams,
            parent_run_id=self.parent_run_id,
            tags=tags,
            close_after_fit=False,
        )

    def for_run(
        self, experiment: str, folder: Path | None, hparams: Mapping[str, Any], *, resumed_after: int | None = None
    ) -> RunLogger:
        """The logger of a run whose directory is ``folder`` (None: a run without one):
        TensorBoard in ``folder/tb`` unless ``log_dir`` is set, MLflow's run named
        after the folder and tagged with its path. ``resumed_after``: the epoch a
        resumed run continues after (TensorBoard shows the epochs after it from this
        session only)."""
        if self.kind == "tensorboard":
            spec = self if self.log_dir is not None or folder is None else self.replace(log_dir=str(folder / "tb"))
            purge_step = resumed_after + 1 if resumed_after is not None else None
            return spec.open(experiment, hparams=hparams, purge_step=purge_step)
        tags = {"reglab.run_dir": str(folder.resolve())} if folder is not None else None
        return self.open(experiment, name=folder.name if folder is not None else "", hparams=hparams, tags=tags)
