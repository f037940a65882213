"""``reglab.run(...)``: an experiment from Python or a notebook, as ``reglab run`` does it.

``reglab.run("dropout", p1=0.5, epochs=3)`` takes the experiment's settings
as keyword arguments (checked as ``key=value`` overrides are), writes the run
directory, and returns the :class:`~reglab.runs.runner.RunOutcome`: ``config``,
``history`` (``.plot()``, ``.to_pandas()``), ``summary``, ``run_dir``. A
notebook displays it as the final numbers and the run's figures. Progress bars
appear in a notebook or on a terminal; Ctrl-C (a notebook's interrupt) stops
the run after ``summary.json`` records it, then propagates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..loggers import LoggerSpec, logger_spec
from .runner import RunOutcome, run_experiment

__all__ = ["run"]


def run(
    experiment: str,
    /,
    *,
    seed: int | None = None,
    device: str = "auto",
    out: str | Path | None = "runs",
    quiet: bool = False,
    progress: bool | None = None,
    dry_run: bool = False,
    logger: str | LoggerSpec | None = None,
    mlflow_uri: str | None = None,
    **settings: Any,
) -> RunOutcome:
    """Run ``experiment`` with ``settings`` and return its outcome.

    Args:
        experiment: a registered name (``reglab list``), e.g. ``"dropout"``.
        seed: the random seed (as ``--seed``).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        out: the parent of run directories (``out/EXPERIMENT/<time>``); None writes nothing.
        quiet: no per-epoch table and no progress bars.
        progress: progress bars (None: on a terminal or in a notebook).
        dry_run: the experiment's tiny ``--dry-run`` budget (settings still win).
        logger: ``"tensorboard"`` (into the run's ``tb/``), ``"mlflow"`` or a
            :class:`~reglab.loggers.LoggerSpec`; None for none.
        mlflow_uri: MLflow's tracking store (default: ``mlruns.db`` beside ``out``).
        **settings: the experiment's settings, e.g. ``p1=0.5, epochs=3``.

    Returns:
        The :class:`~reglab.runs.runner.RunOutcome` (its ``status`` says whether it
        completed; a failure's error is in ``outcome.error`` and ``summary``).
    """
    return run_experiment(
        experiment,
        settings,
        seed=seed,
        device=device,
        out=out,
        quiet=quiet,
        dry_run=dry_run,
        progress=progress,
        command=["reglab.run", experiment, *(f"{k}={v!r}" for k, v in settings.items())],
        logger=logger_spec(logger, mlflow_uri=mlflow_uri, out=out),
    )
