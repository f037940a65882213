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

from ..core.checks import check_int
from ..core.errors import ConfigError, DivergenceError, OutputError
from ..core.files import output_error
from ..core.signals import Interrupted, handle_signals, interruptible, protected, signal_name
from ..core.version import __version__
from ..engine.callbacks import Callback
from ..engine.checkpoint import Checkpoint
from ..engine.devices import resolve_device
from ..loggers import LoggerSpec
from .config import apply_overrides, config_to_dict
from .experiment import Experiment, Result, RunContext, get_experiment
from .outcome_display import RunDisplay
from .provenance import git_state
from .run_dir import RunDir

__all__ = ["RunOutcome", "run_experiment", "execute_run", "versions", "make_config", "CHECKPOINT"]

CHECKPOINT = "checkpoint.pt"  # the checkpoint file of a run directory (--checkpoint-every)


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
    checkpoint_every: int = 0,
    logger: LoggerSpec | None = None,
) -> RunOutcome:
    """Run experiment ``name`` (a reference: ``NAME`` or ``SOURCE:NAME``) and write its
    run directory under ``out``.

    Bad settings raise before anything is created. With ``out=None`` nothing is
    written. Ctrl-C and SIGTERM (on the main thread) interrupt the run: the
    ``KeyboardInterrupt`` (a :class:`~reglab.core.signals.Interrupted` for a
    signal) is re-raised after ``summary.json`` records the interruption
    (returned as status ``interrupted`` with ``reraise_interrupt=False``); more
    signals while the final files are written are held, so those files are
    never cut. Other errors are returned in the outcome (status ``diverged`` or
    ``failed``) after being recorded; a ``model.pt`` that cannot be saved makes
    the status ``failed`` with the reason. ``checkpoint_every=N > 0`` saves
    ``checkpoint.pt`` every N epochs and when training ends (see
    :class:`~reglab.engine.checkpoint.Checkpoint`), so that
    :func:`reglab.runs.resume.resume_run` can continue the run. ``logger`` (e.g.
    ``LoggerSpec("tensorboard")``, written to the run's ``tb/``) gets the config
    as hyperparameters, every epoch, and the summary; it is checked before
    anything is created.

    Raises:
        ConfigError, InvalidArgumentError: a bad setting, before anything is created.
        OutputError: the run folder, ``config.json`` or ``summary.json`` cannot be
            written (a file or the null device as ``out``, a full disk...).
    """
    experiment = get_experiment(name)
    config = make_config(name, overrides, seed=seed, dry_run=dry_run)
    checkpoint_every = check_int("checkpoint_every", checkpoint_every, low=0)
    if checkpoint_every and experiment.cannot_resume:
        raise ConfigError(f"experiment {experiment.name!r} cannot be checkpointed: {experiment.cannot_resume}")
    torch_device = resolve_device(device)
    if logger is not None:
        logger.check(experiment.name)
    # Signals are held from here on (a burst of Ctrl-C cannot cut a file) and let through
    # only while the experiment runs (execute_run), where the interruption is recorded.
    with handle_signals(), protected(deliver=False):
        run_dir = None
        if out is not None:
            run_dir = _new_run_dir(out, experiment, config, torch_device, dry_run, checkpoint_every, command)
        checkpoint = None
        if run_dir is not None and checkpoint_every:
            checkpoint = Checkpoint(run_dir.file(CHECKPOINT), every=checkpoint_every)
        run_logger = (
            logger.for_run(experiment.name, run_dir.path if run_dir else None, config_to_dict(config))
            if logger
            else None
        )
        callbacks: list[Callback] = [cb for cb in (run_logger, checkpoint) if cb is not None]
        ctx = RunContext(
            device=torch_device, run_dir=run_dir, quiet=quiet, progress=progress, extra_callbacks=callbacks
        )
        return execute_run(
            experiment, config, ctx, reraise_interrupt=reraise_interrupt, checkpoint=checkpoint, logger=run_logger
        )


def _new_run_dir(
    out: str | Path,
    experiment: Experiment,
    config: Any,
    device: torch.device,
    dry_run: bool,
    checkpoint_every: int,
    command: list[str] | None,
) -> RunDir:
    """A new run folder with its ``config.json``; nothing is left behind if that cannot be written."""
    run_dir = RunDir.create(out, experiment.name)
    try:
        run_dir.write_json(
            "config.json",
            {
                "experiment": experiment.name,
                "source": experiment.source,
                "config": config_to_dict(config),
                "device": str(device),
                "dry_run": dry_run,
                "checkpoint_every": checkpoint_every,
                "command": command if command is not None else sys.argv,
                "git": git_state(),
            },
        )
    except BaseException:
        run_dir.discard_if_empty()
        raise
    return run_dir


def execute_run(
    experiment: Experiment,
    config: Any,
    ctx: RunContext,
    *,
    reraise_interrupt: bool = True,
    checkpoint: Checkpoint | None = None,
    summary_extra: Mapping[str, Any] | None = None,
    seconds_before: float = 0.0,
    logger: Any = None,
) -> RunOutcome:
    """Run ``experiment.run(config, ctx)`` and write ``model.pt`` and ``summary.json`` into
    ``ctx.run_dir`` (if any) whatever happens, with the status (see :func:`run_experiment`).

    SIGINT and SIGTERM interrupt only the experiment itself; before and after it they
    are held, so ``model.pt`` and ``summary.json`` are never cut.

    Args:
        checkpoint: the run's checkpoint callback (in ``ctx.extra_callbacks``), if
            any; a run whose training never reached it is reported (a resume
            that restored nothing fails).
        summary_extra: added to the summary (a resume's record).
        seconds_before: seconds of the earlier sessions of a resumed run, added to ``seconds``.
        logger: the run's logger callback (in ``ctx.extra_callbacks``), if any; it is
            closed with the summary and the status.

    Raises:
        OutputError: ``summary.json`` cannot be written (the message says how the run ended).
    """
    name = experiment.name
    run_dir = ctx.run_dir
    with handle_signals(), protected(deliver=False):
        start = time.perf_counter()
        result: Result | None = None
        error: BaseException | None = None
        status = "failed"
        try:
            with interruptible():
                result = experiment.run(config, ctx)
            status = "complete"
        except DivergenceError as exc:
            status, error = "diverged", exc
        except KeyboardInterrupt as exc:
            status, error = "interrupted", exc
        except Exception as exc:  # recorded, then reported by the caller
            status, error = "failed", exc
        # The final files (signals are held: nothing can cut them).
        summary: dict[str, Any] = {"experiment": name, "status": status}
        if result is not None:
            summary.update(result.summary)
            if result.rows and "train_penalty" in result.rows[-1]:
                summary.setdefault("train_penalty", result.rows[-1]["train_penalty"])
        summary["seed"] = getattr(config, "seed", None)
        if checkpoint is not None and not checkpoint.started and status == "complete":
            done = "restored" if checkpoint.resume else "saved"
            summary["checkpoint"] = (
                f"none {done}: experiment {name!r} trained no fit with ctx.callbacks(), which checkpointing needs"
            )
            if checkpoint.resume:
                error = ConfigError(summary["checkpoint"])
                status = summary["status"] = "failed"
        summary["seconds"] = seconds_before + time.perf_counter() - start
        summary["device"] = str(ctx.device)
        summary["versions"] = versions()
        summary.update(summary_extra or {})
        if isinstance(error, Interrupted):
            summary["signal"] = signal_name(error.signum)
        if run_dir is not None:
            summary["metrics_rows"] = ctx.metrics_rows
            if result is not None and result.model is not None:
                try:
                    run_dir.save_state_dict("model.pt", result.model)
                except OSError as exc:  # e.g. the disk is full: the summary still says what happened
                    status, error = "failed", output_error(run_dir.file("model.pt"), exc)
                    summary["status"] = status
        if error is not None and not isinstance(error, KeyboardInterrupt):
            summary["error"] = f"{type(error).__name__}: {error}"
        if run_dir is not None:
            try:
                run_dir.write_json("summary.json", summary)
            except OSError as exc:
                ended = f"{status}: {error}" if error is not None and status != "interrupted" else status
                raise OutputError(
                    f"{output_error(run_dir.file('summary.json'), exc)} (the run ended {ended}; "
                    f"its finished epochs are in {run_dir.file('metrics.csv')})"
                ) from exc
            finally:
                if logger is not None:
                    logger.close(summary, status)
        elif logger is not None:
            logger.close(summary, status)
    if isinstance(error, KeyboardInterrupt) and reraise_interrupt:
        raise error
    return RunOutcome(name, config, status, run_dir, result, summary, error)
