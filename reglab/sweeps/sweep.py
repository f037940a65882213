"""``run_sweep`` and ``resume_sweep``: the engine behind ``reglab sweep``.

A sweep is the grid (see :mod:`reglab.sweeps.grid`) times the seeds times the
validation folds. Every trial's config, the device, the backend and the size
of the grid (at most ``max_trials``) are checked before the sweep folder is
created, so a bad value fails at once. Trials then run on a backend
(``local`` processes, one ``vectorized`` stacked model, or ``ray``); each
finished row is stored atomically. Ctrl-C and SIGTERM stop a sweep the same
way (signals reach only the trials, see :mod:`reglab.core.signals`). At the
end (also after an interruption) ``summary.json`` gets the per-configuration
means and spreads, the selected configuration and why, the test-optimal one
and the sessions (the run and each resume), and one plot per knob is drawn.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.checks import check_choice, check_int
from ..core.errors import ConfigError, OutputError
from ..core.signals import handle_signals, interruptible, protected
from ..engine.devices import resolve_device
from ..runs.experiment import get_experiment
from ..runs.runner import make_config, versions
from ..runs.sweep_spec import Selection, SweepSpec
from .backends.local import default_workers, run_local
from .backends.vectorized import run_vectorized, vectorizable
from .grid import Grid, parse_grid, point_overrides
from .knob_figures import knob_figure, plottable_knobs
from .selection import aggregate, parse_select, select, split_overrides
from .sessions import MAX_TRIALS, check_resume_arguments, check_size, session_summary, sessions_so_far
from .store import SweepStore, check_manifest
from .trial import Trial, trial_from_json

__all__ = ["SweepResult", "run_sweep", "resume_sweep", "make_trials", "get_spec", "BACKENDS"]

BACKENDS = ("auto", "local", "vectorized", "ray")


@dataclass
class SweepResult:
    """What a sweep produced: its folder, rows, per-configuration entries and the selection report."""

    path: Path
    backend: str
    knobs: list[str]
    rows: list[dict[str, Any]]
    configurations: list[dict[str, Any]]
    report: dict[str, Any]
    status: str = "complete"
    signum: int | None = None  # the signal that interrupted it (Ctrl-C: SIGINT), if one did


def get_spec(experiment: str) -> SweepSpec:
    """The sweep declaration of the registered ``experiment`` (its ``sweep=`` at registration)."""
    return get_experiment(experiment).sweep


def make_trials(
    experiment: str, grid: Grid, spec: SweepSpec, seeds: list[int], selection: Selection | None
) -> list[Trial]:
    """Every trial of the sweep, each config validated (raises before anything runs)."""
    fields = [f.name for f in dataclasses.fields(get_experiment(experiment).config_type)]
    # An experiment with its own validation data maps the selection per grid point (sizes may be knobs).
    per_point = spec.select_overrides if selection is not None else None
    standard = split_overrides(selection, fields, experiment) if per_point is None else []
    trials: list[Trial] = []
    for point in grid.points():
        base = point_overrides(point, spec)
        splits = standard if per_point is None else per_point(selection, make_config(experiment, base))
        for seed in seeds:
            for split in splits:
                overrides = {**base, **({"seed": seed} if "seed" in fields else {}), **split}
                make_config(experiment, overrides)
                trials.append(Trial(len(trials), point, seed, split.get("fold"), overrides))
    return trials


def _seeds(experiment: str, count: int) -> list[int]:
    count = check_int("seeds", count, low=1)
    config = get_experiment(experiment).default_config()
    if not hasattr(config, "seed"):
        if count > 1:
            raise ConfigError(f"experiment {experiment!r} has no seed setting; use --seeds 1")
        return [0]
    return [config.seed + i for i in range(count)]


def _progress(total: int, quiet: bool) -> Any:
    if quiet:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="sweep", unit="trial", file=sys.stderr)


def _execute(
    store: SweepStore,
    manifest: dict[str, Any],
    trials: list[Trial],
    *,
    backend: str,
    workers: int | None,
    ray_address: str | None,
    quiet: bool,
) -> None:
    """Run ``trials`` on ``backend`` (already resolved from ``auto``), storing rows as they finish."""
    experiment, spec, device = manifest["experiment"], get_spec(manifest["experiment"]), manifest["device"]
    bar = _progress(len(trials), quiet)
    try:
        if backend == "vectorized":
            run_vectorized(
                experiment, trials, store.record, spec, device=device, progress=bar, on_results=store.record_many
            )
        elif backend == "ray":
            from .backends.ray_tune import run_ray

            run_ray(
                experiment,
                trials,
                store.record,
                workers=workers,
                address=ray_address,
                device=device,
                storage=store.path / "ray",
                progress=bar,
            )
        else:
            run_local(experiment, trials, store.record, workers=workers, device=device, progress=bar)
    finally:
        store.flush()  # results.csv holds every finished row, also after Ctrl-C or an error
        if bar is not None:
            bar.close()


def _finish(
    store: SweepStore,
    manifest: dict[str, Any],
    sessions: list[dict[str, Any]],
    status: str,
    signum: int | None = None,
) -> SweepResult:
    spec = get_spec(manifest["experiment"])
    knobs = manifest["knobs"]
    rows = store.rows
    configs = aggregate(rows, knobs, spec)
    report = select(configs, knobs, spec, parse_select(manifest["select"]))
    counts = {s: sum(r.get("status") == s for r in rows) for s in ("complete", "diverged", "failed")}
    counts["missing"] = len(manifest["trials"]) - len(rows)
    store.write_json(  # called with signals held (see _run): a burst of Ctrl-C cannot cut it
        "summary.json",
        {
            "experiment": manifest["experiment"],
            "status": status,
            **session_summary(sessions),
            "trials": counts,
            **report,
            "configurations": configs,
            "versions": versions(),
        },
    )
    anchor = report.get("selected") or report.get("test_optimal")
    for knob in plottable_knobs(configs, knobs):
        import matplotlib.pyplot as plt

        fig = knob_figure(configs, knobs, knob, anchor, spec, manifest["experiment"])
        store.run_dir.save_figure(f"{knob}.png", fig)
        plt.close(fig)
    return SweepResult(store.path, sessions[-1]["backend"], list(knobs), rows, configs, report, status, signum)


def _run(
    store: SweepStore,
    manifest: dict[str, Any],
    trials: list[Trial],
    *,
    resumed: bool,
    reraise_interrupt: bool,
    **options: Any,
) -> SweepResult:
    sessions = sessions_so_far(store.path, manifest, resumed)
    if options["backend"] == "auto":
        spec = get_spec(manifest["experiment"])
        options["backend"] = "vectorized" if vectorizable(spec, manifest["experiment"], trials) else "local"
    session: dict[str, Any] = {"backend": options["backend"], "seconds": None, "trials": len(trials)}
    start = time.perf_counter()

    def ended(status: str) -> list[dict[str, Any]]:
        session.update(seconds=time.perf_counter() - start, status=status)
        return [*sessions, session]

    with handle_signals(), protected(deliver=False):  # signals reach only the trials (see core/signals.py)
        try:
            with interruptible():
                _execute(store, manifest, trials, **options)
        except KeyboardInterrupt as exc:
            result = _finish(store, manifest, ended("interrupted"), "interrupted", getattr(exc, "signum", None))
            if reraise_interrupt:
                raise
            return result
        except OutputError as exc:  # e.g. the disk filled up: say where the finished trials are
            with contextlib.suppress(OSError):
                _finish(store, manifest, ended("failed"), "failed")
            raise OutputError(
                f"{exc}; the finished trials are kept in {store.path}: finish them with --resume"
            ) from exc
        return _finish(store, manifest, ended("complete"), "complete")


def run_sweep(
    experiment: str | None,
    grid: list[str] | tuple[str, ...] = (),
    *,
    seeds: int | None = None,
    select: str | Selection | None = None,
    backend: str = "auto",
    workers: int | None = None,
    ray_address: str | None = None,
    device: str | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    quiet: bool = False,
    command: list[str] | None = None,
    max_trials: int | None = None,
    reraise_interrupt: bool = True,
) -> SweepResult:
    """Run a sweep of ``experiment`` into a new folder ``out/EXPERIMENT/<timestamp>``.

    Args:
        experiment: a registered experiment name (None or empty with ``resume``).
        grid: axes such as ``"p1=0.1,0.5"`` or ``"lr=log:0.01:1:5"``.
        seeds: seeds per configuration (the experiment's default seed, +1, +2...); None: 1.
        select: ``"val=FRACTION"``, ``"kfold=K"`` or None (no selection).
        backend: ``auto`` (vectorized when possible, else local), ``local``, ``vectorized``, ``ray``.
        workers: processes (local) or CPUs (ray); None: one per core.
        ray_address: an existing Ray cluster (``ray`` backend); None starts a local one.
        device: where trials train; None: ``cpu``.
        out: the parent of sweep folders; None: ``sweeps``.
        resume: a sweep folder to finish instead; every setting then comes from its
            ``sweep.json``, and giving an experiment, grid, seeds, select, device or out is refused.
        quiet: no progress bar.
        command: the command line recorded in ``sweep.json``.
        max_trials: the most trials allowed; None: :data:`~reglab.sweeps.sessions.MAX_TRIALS` (10000).
        reraise_interrupt: False returns an interrupted sweep's result (``status`` ``interrupted``)
            instead of re-raising Ctrl-C or SIGTERM after the summary is written.

    Everything is checked before the folder is made: the settings of every trial, the
    device, the backend, the size of the grid.

    Returns:
        A :class:`SweepResult`.
    """
    max_trials = MAX_TRIALS if max_trials is None else check_int("max_trials", max_trials, low=1)
    if resume is not None:
        check_resume_arguments(
            experiment=experiment, grid=list(grid), seeds=seeds, select=select, device=device, out=out
        )
        return resume_sweep(
            resume,
            backend=backend,
            workers=workers,
            ray_address=ray_address,
            quiet=quiet,
            reraise_interrupt=reraise_interrupt,
        )
    if not experiment:
        raise ConfigError("reglab sweep needs an experiment (or --resume DIR)")
    check_choice("backend", backend, BACKENDS)
    if workers is not None:
        check_int("workers", workers, low=1)
    device = "cpu" if device is None else device
    resolve_device(device)  # a bad device is refused for every backend, before the folder exists
    get_experiment(experiment)  # unknown names fail here, listing the valid ones
    spec = get_spec(experiment)
    _check_backend(experiment, spec, backend)
    seeds = 1 if seeds is None else seeds
    parsed = parse_grid(grid, get_experiment(experiment).config_type, spec, max_values=max_trials)
    selection = parse_select(select)
    seed_list = _seeds(experiment, seeds)
    check_size(
        len(parsed), len(seed_list), int(selection.value) if selection and selection.kind == "kfold" else 1, max_trials
    )
    trials = make_trials(experiment, parsed, spec, seed_list, selection)
    manifest = {
        "experiment": experiment,
        "grid": parsed.to_json(),
        "knobs": parsed.keys,
        "seeds": seeds,
        "select": str(selection) if selection is not None else None,
        "backend": backend,
        "device": device,
        "workers": workers or default_workers(),
        "command": command if command is not None else sys.argv,
        "trials": [dataclasses.asdict(t) for t in trials],
    }
    # From the folder's creation on, a signal is held until the trials run (where it is recorded).
    with handle_signals(), protected(deliver=False):
        store = SweepStore.create("sweeps" if out is None else out, experiment, manifest, parsed.keys)
        return _run(
            store,
            manifest,
            trials,
            resumed=False,
            reraise_interrupt=reraise_interrupt,
            backend=backend,
            workers=workers,
            ray_address=ray_address,
            quiet=quiet,
        )


def _check_backend(experiment: str, spec: SweepSpec, backend: str) -> None:
    if backend == "vectorized" and spec.vectorized_trainer() is None:
        raise ConfigError(f"experiment {experiment!r} has no vectorized trainer; use --backend local or ray")


def resume_sweep(
    path: str | Path,
    *,
    backend: str = "auto",
    workers: int | None = None,
    ray_address: str | None = None,
    quiet: bool = False,
    reraise_interrupt: bool = True,
) -> SweepResult:
    """Run the unfinished trials of the sweep in ``path`` (complete and diverged ones are kept).

    A journal line cut by a crash is removed first; a malformed folder is refused in one
    sentence naming the file. ``summary.json`` keeps the earlier sessions and adds this one.
    """
    check_choice("backend", backend, BACKENDS)
    if workers is not None:
        check_int("workers", workers, low=1)
    _, manifest = SweepStore.open(path)  # read-only first: nothing is repaired for a refused resume
    manifest = check_manifest(path, manifest)
    try:
        trials = [trial_from_json(t) for t in manifest["trials"]]
        get_experiment(manifest["experiment"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"--resume: {Path(path) / 'sweep.json'} is not a readable sweep manifest ({exc})") from None
    resolve_device(manifest["device"])
    _check_backend(manifest["experiment"], get_spec(manifest["experiment"]), backend)
    with handle_signals(), protected(deliver=False):
        store, manifest = SweepStore.open(path, repair=True)
        manifest = check_manifest(path, manifest)
        done = store.finished()
        todo = [t for t in trials if t.index not in done]
        return _run(
            store,
            manifest,
            todo,
            resumed=True,
            reraise_interrupt=reraise_interrupt,
            backend=backend,
            workers=workers,
            ray_address=ray_address,
            quiet=quiet,
        )
