"""Run one experiment into a new run directory: the engine behind ``reglab run``.

The run directory gets ``config.json`` first, then whatever the experiment
writes as it goes (``metrics.csv`` after every epoch), then ``model.pt`` and
``summary.json``. ``summary.json`` is written whatever happens, with a
``status``: ``complete``, ``diverged``, ``interrupted`` (Ctrl-C) or ``failed``
(and the error), so finished work is never lost.
"""

from __future__ import annotations

import dataclasses
import platform
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.errors import ConfigError, DivergenceError
from ..core.version import __version__
from ..engine.callbacks import Callback
from ..engine.devices import resolve_device
from ..loggers import LoggerSpec
from .config import apply_overrides, config_to_dict
from .experiment import Result, RunContext, get_experiment
from .outcome_display import RunDisplay
from .provenance import git_state
from .run_dir import RunDir

__all__ = ["RunOutcome", "run_experiment", "versions", "make_config"]


def versions() -> dict[str, str]:
    return {
        "reglab": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


@dataclass
class RunOutcome(RunDisplay):
    """What a run produced: its config, status, run directory, result and summary
    (``history`` gives the per-epoch rows; a notebook displays the curves)."""

    experiment: str
    config: Any
    status: str
    run_dir: RunDir | None
    result: Result | None
    summary: dict[str, Any]
    error: BaseException | None = None


def make_config(
    name: str,
    overrides: Iterable[str] | Mapping[str, Any] = (),
    *,
    seed: int | None = None,
    dry_run: bool = False,
) -> Any:
    """The experiment's default config with ``--dry-run`` budget, overrides and seed applied
    (in that order, so explicit overrides win over the dry-run budget)."""
    experiment = get_experiment(name)
    config = experiment.default_config()
    if dry_run and experiment.quick:
        config = apply_overrides(config, dict(experiment.quick))
    config = apply_overrides(config, overrides)
    if seed is not None:
        if not any(f.name == "seed" for f in dataclasses.fields(config)):
            raise ConfigError(f"experiment {name!r} has no seed setting")
        config = apply_overrides(config, {"seed": seed})
    return config


def run_experiment(
    name: str,
    overrides: Iterable[str] | Mapping[str, Any] = (),
    *,
    seed: int | None = None,
    device: str | torch.device = "auto",
    out: str | Path | None = "runs",
    quiet: bool = False,
    dry_run: bool = False,
    progress: bool | None = None,
    command: list[str] | None = None,
    reraise_interrupt: bool = True,
    logger: LoggerSpec | None = None,
) -> RunOutcome:
    """Run experiment ``name`` and write its run directory under ``out``.

    Bad settings raise before anything is created. With ``out=None`` nothing is
    written. ``KeyboardInterrupt`` is re-raised after ``summary.json`` records
    the interruption (returned as status ``interrupted`` with
    ``reraise_interrupt=False``); other errors are returned in the outcome (status
    ``diverged`` or ``failed``) after being recorded. ``logger`` (e.g.
    ``LoggerSpec("tensorboard")``, written to the run's ``tb/``) gets the config
    as hyperparameters, every epoch, and the summary; it is checked before
    anything is created.
    """
    experiment = get_experiment(name)
    config = make_config(name, overrides, seed=seed, dry_run=dry_run)
    torch_device = resolve_device(device)
    if logger is not None:
        logger.check(name)
    run_dir = RunDir.create(out, name) if out is not None else None
    if run_dir is not None:
        run_dir.write_json(
            "config.json",
            {
                "experiment": name,
                "config": config_to_dict(config),
                "device": str(torch_device),
                "dry_run": dry_run,
                "command": command if command is not None else sys.argv,
                "git": git_state(),
            },
        )
    run_logger = logger.for_run(name, run_dir.path if run_dir else None, config_to_dict(config)) if logger else None
    callbacks: list[Callback] = [run_logger] if run_logger is not None else []
    ctx = RunContext(device=torch_device, run_dir=run_dir, quiet=quiet, progress=progress, extra_callbacks=callbacks)
    start = time.perf_counter()
    result: Result | None = None
    error: BaseException | None = None
    status = "failed"
    try:
        result = experiment.run(config, ctx)
        status = "complete"
    except DivergenceError as exc:
        status, error = "diverged", exc
    except KeyboardInterrupt as exc:
        status, error = "interrupted", exc
    except Exception as exc:  # recorded, then reported by the caller
        status, error = "failed", exc
    finally:
        summary: dict[str, Any] = {"experiment": name, "status": status}
        if result is not None:
            summary.update(result.summary)
            if result.rows and "train_penalty" in result.rows[-1]:
                summary.setdefault("train_penalty", result.rows[-1]["train_penalty"])
        if error is not None and not isinstance(error, KeyboardInterrupt):
            summary["error"] = f"{type(error).__name__}: {error}"
        summary["seed"] = getattr(config, "seed", None)
        summary["seconds"] = time.perf_counter() - start
        summary["device"] = str(torch_device)
        summary["versions"] = versions()
        if run_dir is not None:
            if result is not None and result.model is not None:
                run_dir.save_state_dict("model.pt", result.model)
            run_dir.write_json("summary.json", summary)
        if run_logger is not None:
            run_logger.close(summary, status)
    if isinstance(error, KeyboardInterrupt) and reraise_interrupt:
        raise error
    return RunOutcome(name, config, status, run_dir, result, summary, error)
