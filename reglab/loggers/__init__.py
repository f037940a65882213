"""Loggers: training runs in TensorBoard and MLflow, where their users already look.

Each logger is a :func:`reglab.fit` callback (:class:`RunLogger`): per-epoch
scalars (every numeric column of the history, the penalty term among them),
the hyperparameters, and the final metrics with the run's status. The run
directory stays the record; a logger is a view of it.

- :class:`TensorBoardLogger` (``pip install 'reglab[tensorboard]'``): event
  files, with an HParams session per run;
- :class:`MLflowLogger` (``pip install 'reglab[mlflow]'``): an MLflow run per
  reglab run or sweep trial, trials nested under their sweep's run;
- :class:`LoggerSpec`: a logger as picklable data, which ``reglab run`` and
  ``reglab sweep --logger`` open per run and per trial (in worker processes).

This package sits between the engine (whose callbacks it implements) and the
runs (whose runner and sweeps attach loggers); the tools themselves are
imported only when a logger is made.
"""

from .base import RunLogger, final_metrics, flat_hparams, warn_logger_failed
from .mlflow_logger import MLflowLogger
from .spec import LOGGERS, LoggerSpec, default_mlflow_uri, logger_spec
from .tensorboard_logger import TensorBoardLogger

__all__ = [
    "TensorBoardLogger",
    "MLflowLogger",
    "RunLogger",
    "LoggerSpec",
    "LOGGERS",
    "default_mlflow_uri",
    "logger_spec",
    "flat_hparams",
    "final_metrics",
    "warn_logger_failed",
]
