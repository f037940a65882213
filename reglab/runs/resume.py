"""Continue a run in its own directory (``reglab run --resume RUN_DIR``), and re-run a
recorded configuration in a new one (``reglab run --from RUN_DIR/config.json``).

Resuming needs a run started with ``--checkpoint-every N``: its directory holds
``checkpoint.pt`` (see :class:`~reglab.engine.checkpoint.Checkpoint`). The
experiment is found again from ``config.json`` (its name and source), its
config rebuilt from the recorded one, and it runs again from the start of its
run function, on the recorded device; when training reaches ``fit``, the
checkpoint restores the last finished epoch and training continues after it.
``metrics.csv`` gets the checkpoint's rows back and grows from there,
``summary.json`` is rewritten with the new status, and both ``config.json`` and
``summary.json`` list the resumes (the epoch each continued from, the status
it continued, overrides). Without overrides, on the same device and with the
same code, the resumed run computes the numbers an uninterrupted run computes,
bit for bit on the CPU. Overrides (``key=value``) change the continuation,
e.g. ``lr=0.01`` after a divergence: the optimizer then keeps its saved state
with the new config's hyperparameters. A ``complete`` run is resumed only to
train it further (``epochs=N`` above its recorded epochs): it continues from
the checkpoint saved at its end, as if it had been started with N epochs
(bit for bit, unless the experiment's training depends on the epoch count,
e.g. a schedule over all epochs).

An experiment can be resumed when its training runs through one ``fit`` with
``ctx.callbacks()``; one that cannot says why at its registration
(``cannot_resume=...``), and ``--checkpoint-every`` refuses it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from ..core.checks import check_int
from ..core.errors import ConfigError
from ..engine.callbacks import Callback
from ..engine.checkpoint import Checkpoint, load_checkpoint
from ..engine.devices import resolve_device
from ..loggers import LoggerSpec
from .config import apply_overrides, config_from_dict, config_to_dict
from .experiment import Experiment, RunContext, get_experiment
from .run_dir import RunDir
from .runner import CHECKPOINT, RunOutcome, execute_run, run_experiment
from .sources import make_ref

__all__ = ["read_run_config", "recorded_experiment", "resume_run", "run_from_config"]


def read_run_config(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """A run's ``config.json`` (``path`` is the file or its run directory): its path and content."""
    path = Path(path)
    file = path / "config.json" if path.is_dir() else path
    if not file.is_file():
        raise ConfigError(f"{path} is not a run directory or a run's config.json (there is no {file})")
    try:
        record = json.loads(file.read_text())
        if not isinstance(record, dict) or not isinstance(record["experiment"], str):
            raise TypeError("not an object with an experiment name")
        if not isinstance(record["config"], dict):
            raise TypeError("its config is not an object")
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, KeyError) as exc:
        raise ConfigError(f"{file} is not a readable run config ({type(exc).__name__}: {exc})") from None
    return file, record


def recorded_experiment(file: Path, record: Mapping[str, Any]) -> tuple[Experiment, Any]:
    """The experiment a run's config names (loading its source) and the recorded config."""
    ref = make_ref(record["experiment"], record.get("source"))
    try:
        experiment = get_experiment(ref)
    except ConfigError as exc:
        raise ConfigError(f"{file} records an experiment that cannot be found: {exc}") from None
    try:
        config: Any = config_from_dict(experiment.config_type, record["config"])
    except ConfigError as exc:
        raise ConfigError(
            f"{file} records a config that experiment {experiment.name!r} no longer takes: {exc}"
        ) from None
    return experiment, config


def _changes(before: Any, after: Any) -> dict[str, Any]:
    new = config_to_dict(after)
    return {f.name: new[f.name] for f in dataclasses.fields(after) if getattr(before, f.name) != getattr(after, f.name)}


def _check_extends(path: Path, file: Path, recorded: Any, config: Any) -> None:
    """A complete run is continued only to train it further: ``epochs`` raised above the recorded value."""
    before = getattr(recorded, "epochs", None)
    if not isinstance(before, int) or isinstance(before, bool):
        raise ConfigError(
            f"--resume: the run in {path} is complete, nothing to continue; re-run its configuration with --from {file}"
        )
    after = config.epochs
    if after <= before:
        raise ConfigError(
            f"--resume: the run in {path} is complete after its {before} epochs; give epochs=N with N > {before} "
            f"to train it further (received epochs={after}), or re-run its configuration with --from {file}"
        )


def resume_run(
    run_dir: str | Path,
    overrides: Iterable[str] | Mapping[str, Any] = (),
    *,
    device: str | torch.device | None = None,
    quiet: bool = False,
    progress: bool | None = None,
    command: list[str] | None = None,
    reraise_interrupt: bool = True,
    checkpoint_every: int | None = None,
    logger: LoggerSpec | None = None,
) -> RunOutcome:
    """Continue the interrupted, diverged or failed run in ``run_dir`` (see the module).

    Args:
        run_dir: the run directory (made with ``checkpoint_every > 0``).
        overrides: ``key=value`` changes for the rest of the run (none: an exact continuation).
        device: None for the recorded device.
        checkpoint_every: None keeps the recorded interval.
        logger: logs the continued epochs (TensorBoard: into the run's ``tb/`` again, the
            curves going on from the checkpoint's epoch, though the HParams tab keeps the
            first session's status; MLflow: a new MLflow run named after the folder);
            checked before anything is written.

    Returns:
        The :class:`~reglab.runs.runner.RunOutcome` of the continued run.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise ConfigError(f"--resume: {path} is not a run directory")
    file, record = read_run_config(path)
    summary_file = path / "summary.json"
    previous: dict[str, Any] = {}
    if summary_file.is_file():
        try:
            previous = json.loads(summary_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            previous = {}
    status = previous.get("status", "unknown (no readable summary.json)")
    experiment, recorded = recorded_experiment(file, record)
    config = apply_overrides(recorded, overrides)  # once: ``overrides`` may be a one-shot iterable
    if status == "complete":
        _check_extends(path, file, recorded, config)
    if experiment.cannot_resume:
        raise ConfigError(f"--resume: experiment {experiment.name!r} cannot resume: {experiment.cannot_resume}")
    if checkpoint_every is None:
        every = max(1, int(record.get("checkpoint_every") or 0))
    else:
        every = check_int("checkpoint_every", checkpoint_every, low=1)
    checkpoint_file = path / CHECKPOINT
    if not checkpoint_file.is_file() and not record.get("checkpoint_every"):
        raise ConfigError(
            f"--resume: the run in {path} was not checkpointed; start runs with --checkpoint-every N to resume them"
        )
    changes = _changes(recorded, config)
    # No checkpoint yet (stopped in its first epoch): the run starts over in its folder.
    from_epoch = load_checkpoint(checkpoint_file)["epoch"] if checkpoint_file.is_file() else 0
    checkpoint = Checkpoint(
        checkpoint_file,
        every=every,
        resume=from_epoch > 0,
        optimizer_settings="current" if changes else "checkpoint",
    )
    torch_device = resolve_device(device if device is not None else record.get("device", "auto"))
    if logger is not None:
        logger.check(experiment.name)
    entry = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "from_epoch": from_epoch,
        "previous_status": status,
        "overrides": changes,
        "device": str(torch_device),
        "command": command if command is not None else sys.argv,
    }
    resumes = [*record.get("resumes", []), entry]
    run = RunDir(path)
    run.write_json(
        "config.json",
        {**record, "config": config_to_dict(config), "checkpoint_every": every, "resumes": resumes},
    )
    run_logger = (
        logger.for_run(experiment.name, path, config_to_dict(config), resumed_after=from_epoch)
        if logger is not None
        else None
    )
    callbacks: list[Callback] = [cb for cb in (run_logger, checkpoint) if cb is not None]
    ctx = RunContext(device=torch_device, run_dir=run, quiet=quiet, progress=progress, extra_callbacks=callbacks)
    return execute_run(
        experiment,
        config,
        ctx,
        reraise_interrupt=reraise_interrupt,
        checkpoint=checkpoint,
        summary_extra={"resumes": resumes},
        seconds_before=float(previous.get("seconds") or 0.0),
        logger=run_logger,
    )


def run_from_config(
    config_file: str | Path,
    overrides: Iterable[str] | Mapping[str, Any] = (),
    **options: Any,
) -> RunOutcome:
    """Run the configuration recorded in ``config_file`` (a run's ``config.json``, or its
    directory) again, into a new run directory, with ``overrides`` on top.

    ``options`` are :func:`~reglab.runs.runner.run_experiment`'s (``seed``, ``device``,
    ``out``, ``quiet``, ``checkpoint_every``...); the device is not taken from the record.
    An experiment that cannot be found (an unknown name, a source that is gone) is
    refused with one sentence.
    """
    file, record = read_run_config(config_file)
    experiment, recorded = recorded_experiment(file, record)
    config = apply_overrides(recorded, overrides)
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    return run_experiment(experiment.ref, values, **options)
