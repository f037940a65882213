"""MLflow: one MLflow run per reglab run or sweep trial, through ``MlflowClient``.

``MLflowLogger(tracking_uri, experiment)`` (``pip install 'reglab[mlflow]'``)
creates a run in the MLflow experiment ``experiment`` (made if missing) of
the tracking store at ``tracking_uri``: a SQLite database
(``sqlite:////abs/path/mlruns.db``) or any MLflow server (``http://...``). The
hyperparameters become the run's params, every history column a metric with
the epoch as its step, and closing logs the final metrics and ends the run
(``FINISHED``, ``KILLED`` for Ctrl-C, ``FAILED``). Sweep trials are nested
under the sweep's run (``parent_run_id``: MLflow's ``mlflow.parentRunId`` tag),
so MLflow's compare view shows every trial's knobs against its metrics.

Only the client API is used (no ``mlflow.start_run``), so several loggers may
be open at once. One global setting is made, for SQLite stores only: MLflow's
``MLFLOW_SQLALCHEMYSTORE_POOLCLASS=NullPool`` (unless set already), so that no
pooled database connection is inherited by a forked sweep worker (SQLite
forbids carrying a connection across ``fork``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from ..core.checks import invalid_argument
from ..core.errors import MissingExtraError
from .base import RunLogger

__all__ = ["MLflowLogger", "import_mlflow_client", "mlflow_client", "experiment_id"]

_MLFLOW_STATUS = {"complete": "FINISHED", "interrupted": "KILLED", "diverged": "FAILED", "failed": "FAILED"}
_BATCH = 100  # MLflow's limit of params per log_batch call


def import_mlflow_client() -> Any:
    """``mlflow.tracking.MlflowClient``; without MLflow a MissingExtraError (an ImportError) saying what to install."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise MissingExtraError(
            "the mlflow logger needs MLflow, which is not installed: pip install 'reglab[mlflow]'"
        ) from None
    return MlflowClient


def mlflow_client(tracking_uri: str) -> Any:
    """An ``MlflowClient`` for ``tracking_uri`` (see the module docstring for SQLite's pool)."""
    client_type = import_mlflow_client()
    if tracking_uri.startswith("sqlite:"):
        os.environ.setdefault("MLFLOW_SQLALCHEMYSTORE_POOLCLASS", "NullPool")
    return client_type(tracking_uri=tracking_uri)


def experiment_id(client: Any, name: str) -> str:
    """The id of MLflow experiment ``name``, created if missing (also when another process races to create it)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except Exception:
        found = client.get_experiment_by_name(name)  # created meanwhile by another process
        if found is None:
            raise
        return str(found.experiment_id)


class MLflowLogger(RunLogger):
    """Log a training run as an MLflow run.

    ``fit(..., callbacks=[MLflowLogger("sqlite:///mlruns.db", "dropout", hparams={"p": 0.5})])``,
    then ``mlflow ui --backend-store-uri sqlite:///mlruns.db``.

    Args:
        tracking_uri: the tracking store: ``sqlite:///PATH`` or a server's URL.
        experiment: the MLflow experiment's name (made if missing).
        run_name: the MLflow run's name (None: MLflow makes one up).
        hparams: the run's params (flattened; see :class:`RunLogger`).
        parent_run_id: nest this run under that MLflow run (a sweep's).
        tags: extra MLflow tags of the run.
        close_after_fit: end the run when ``fit`` ends (False: the caller calls :meth:`close`).

    Attributes:
        run_id: the MLflow run's id, once started.
    """

    tool = "MLflow"

    def __init__(
        self,
        tracking_uri: str,
        experiment: str,
        *,
        run_name: str | None = None,
        hparams: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        close_after_fit: bool = True,
    ) -> None:
        if not isinstance(tracking_uri, str) or not tracking_uri:
            raise invalid_argument("tracking_uri", "an MLflow tracking URI such as sqlite:///mlruns.db", tracking_uri)
        if not isinstance(experiment, str) or not experiment:
            raise invalid_argument("experiment", "an MLflow experiment name", experiment)
        import_mlflow_client()
        super().__init__(hparams=hparams, close_after_fit=close_after_fit)
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.run_name = run_name
        self.parent_run_id = parent_run_id
        self.tags = dict(tags or {})
        self.client = mlflow_client(tracking_uri)
        self.run_id: str | None = None

    def _start(self, hparams: dict[str, bool | int | float | str]) -> None:
        from mlflow.entities import Param

        tags = dict(self.tags)
        if self.parent_run_id is not None:
            tags["mlflow.parentRunId"] = self.parent_run_id
        run = self.client.create_run(
            experiment_id(self.client, self.experiment), run_name=self.run_name, tags=tags or None
        )
        self.run_id = str(run.info.run_id)
        params = [Param(name, str(value)) for name, value in hparams.items()]
        for start in range(0, len(params), _BATCH):
            self.client.log_batch(self.run_id, params=params[start : start + _BATCH])

    def _log(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(name, value, now, step) for name, value in metrics.items()]
        if self.run_id is not None:
            self.client.log_batch(self.run_id, metrics=batch)

    def _end(self, status: str) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, status=_MLFLOW_STATUS[status])

    def __repr__(self) -> str:
        return f"MLflowLogger({self.tracking_uri!r}, {self.experiment!r}, run_id={self.run_id!r})"
