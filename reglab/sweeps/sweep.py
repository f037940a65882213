"""``run_sweep`` and ``resume_sweep``: the engine behind ``reglab sweep``.

A sweep is the grid (see :mod:`reglab.sweeps.grid`) times the seeds times the
validation folds. Every trial's config, the device, the backend and the size
of the grid (at most ``max_trials``) are checked before the sweep folder is
created, so a bad value fails at once. Trials then run on a backend
(``local`` processes, one ``vectorized`` stacked model, or ``ray``); each
finished row is stored atomically. ``optuna`` searches ranges instead of a
grid (:mod:`reglab.sweeps.space`, :mod:`.backends.optuna_search`). Ctrl-C and
SIGTERM stop a sweep the same way (signals reach only the trials, see
:mod:`reglab.core.signals`). At the end (also after an interruption)
``summary.json`` gets the per-configuration means and spreads, the selected
configuration and why, the test-optimal one and the sessions (the run and each
resume), one plot per knob is drawn and ``report.html`` is written.
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
from ..engine.display import progress_bar, show_progress
from ..loggers import LoggerSpec
from ..reports import write_report
from ..runs.experiment import get_experiment
from ..runs.provenance import git_state
from ..runs.runner import make_config, versions
from ..runs.sources import make_ref
from ..runs.sweep_spec import Selection, SweepSpec
from .backends.local import default_workers, run_local
from .backends.vectorized import run_vectorized, vectorizable
from .grid import Grid, parse_grid, point_overrides
from .knob_figures import knob_figure, plottable_knobs
from .options import SearchOptions
from .reporting import EPOCHS_RUN, configured_epochs, scheduler_summary
from .result_display import SweepDisplay
from .selection import aggregate, parse_select, select, split_overrides
from .sessions import MAX_TRIALS, check_resume_arguments, check_size, session_summary, sessions_so_far
from .space import SearchSpace, parse_space, single_point_grid
from .store import SweepStore, check_manifest
from .sweep_logging import SweepLogging
from .trial import Trial, trial_from_json

__all__ = ["SweepResult", "run_sweep", "resume_sweep", "make_trials", "get_spec", "BACKENDS"]

BACKENDS = ("auto", "local", "vectorized", "ray", "optuna")


@dataclass
class SweepResult(SweepDisplay):
    """What a sweep produced: its folder, rows, per-configuration entries and the selection report."""

    path: Path
    backend: str
    knobs: list[str]
    rows: list[dict[str, Any]]
    configurations: list[dict[str, Any]]
    report: dict[str, Any]
    status: str = "complete"
    search: dict[str, Any] = dataclasses.field(default_factory=dict)  # summary's "scheduler", "optuna"
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
    standard = split_overrides(selection, fields, get_experiment(experiment).name) if per_point is None else []
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
    # A terminal or a notebook (a widget there) gets a bar; a log file does not.
    return progress_bar(total, "sweep", "trial", leave=True) if show_progress(False if quiet else None) else None


def _execute(
    store: SweepStore,
    manifest: dict[str, Any],
    trials: list[Trial],
    *,
    backend: str,
    workers: int | None,
    ray_address: str | None,
    quiet: bool,
    logging: SweepLogging | None = None,
) -> None:
    """Run ``trials`` on ``backend`` (already resolved from ``auto``), storing rows as they finish."""
    experiment = make_ref(manifest["experiment"], manifest.get("source"))  # what workers load
    spec, device = get_spec(experiment), manifest["device"]
    trial_logger = logging.trial_spec if logging is not None else None
    search = SearchOptions.from_json(manifest.get("search"))
    bar = _progress(len(trials) if backend != "optuna" else 0, quiet)
    try:
        if backend == "vectorized":
            # No per-trial fit to attach a logger to: the rows are logged here as they are stored.
            record, record_many = logging.recorders(store) if logging else (store.record, store.record_many)
            run_vectorized(experiment, trials, record, spec, device=device, progress=bar, on_results=record_many)
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
                spec=spec,
                scheduler=search.scheduler,
                retries=search.retries or 0,
                logger=trial_logger,
            )
        elif backend == "optuna":
            from .backends.optuna_search import run_optuna

            seeds, selection = _seeds(experiment, manifest["seeds"]), parse_select(manifest["select"])
            run_optuna(
                experiment,
                store,
                SearchSpace.from_json(manifest["grid"]),
                lambda point: make_trials(experiment, single_point_grid(point), spec, seeds, selection),
                search,
                spec=spec,
                device=device,
                progress=bar,
            )
        else:
            run_local(
                experiment, trials, store.record, workers=workers, device=device, progress=bar, logger=trial_logger
            )
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
    logging: SweepLogging | None = None,
    error: str | None = None,
) -> SweepResult:
    backend = sessions[-1]["backend"]
    spec = get_spec(make_ref(manifest["experiment"], manifest.get("source")))
    knobs = manifest["knobs"]
    rows = store.rows
    configs = aggregate(rows, knobs, spec)
    report = select(configs, knobs, spec, parse_select(manifest["select"]))
    counts = {s: sum(r.get("status") == s for r in rows) for s in ("complete", "diverged", "failed", "stopped")}
    counts["missing"] = max(0, len(manifest["trials"]) - len(rows))
    search = _search_summary(store, manifest, backend, rows)
    store.write_json(  # called with signals held (see _run): a burst of Ctrl-C cannot cut it
        "summary.json",
        {
            "experiment": manifest["experiment"],
            "status": status,
            **({"error": error} if error is not None else {}),
            **session_summary(sessions),
            "trials": counts,
            **report,
            "configurations": configs,
            **search,
            "versions": versions(),
        },
    )
    anchor = report.get("selected") or report.get("test_optimal")
    for knob in plottable_knobs(configs, knobs):
        import matplotlib.pyplot as plt

        fig = knob_figure(configs, knobs, knob, anchor, spec, manifest["experiment"])
        store.run_dir.save_figure(f"{knob}.png", fig)
        plt.close(fig)
    if logging is not None:
        logging.close(report, status)
    _write_report(store.path)
    return SweepResult(store.path, backend, list(knobs), rows, configs, report, status, search, signum)


def _search_summary(
    store: SweepStore, manifest: dict[str, Any], backend: str, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """``scheduler``: epochs saved by stopping trials early; ``optuna``: the study."""
    experiment = make_ref(manifest["experiment"], manifest.get("source"))
    search = SearchOptions.from_json(manifest.get("search"))
    out: dict[str, Any] = {}
    if any(EPOCHS_RUN in r for r in rows):
        pruner = search.pruner if backend == "optuna" and search.pruner != "none" else None
        name = search.scheduler or (f"{pruner} pruner" if pruner else None)
        full = configured_epochs(experiment, get_spec(experiment), manifest["knobs"], rows)
        out["scheduler"] = {"name": name, **scheduler_summary(rows, full)}
    if backend == "optuna":
        from .backends.optuna_search import study_summary

        out["optuna"] = study_summary(store.path, get_spec(experiment), search)
    return out


def _write_report(path: Path) -> None:
    """``report.html`` (see :mod:`reglab.reports`), last: if it fails, the sweep's files are all there."""
    try:
        write_report(path)
    except Exception as exc:  # the report is a view; never lose or hide the results over it
        print(f"reglab: could not write {path / 'report.html'} ({type(exc).__name__}: {exc})", file=sys.stderr)


def _run(
    store: SweepStore,
    manifest: dict[str, Any],
    trials: list[Trial],
    *,
    resumed: bool,
    reraise_interrupt: bool,
    logger: LoggerSpec | None,
    **options: Any,
) -> SweepResult:
    sessions = sessions_so_far(store.path, manifest, resumed)
    if options["backend"] == "auto":
        experiment = make_ref(manifest["experiment"], manifest.get("source"))
        options["backend"] = "vectorized" if vectorizable(get_spec(experiment), experiment, trials) else "local"
    session: dict[str, Any] = {"backend": options["backend"], "seconds": None, "trials": len(trials)}
    start = time.perf_counter()
    logging = SweepLogging(logger, manifest["experiment"], store.path, manifest) if logger is not None else None

    def ended(status: str) -> list[dict[str, Any]]:
        session.update(seconds=time.perf_counter() - start, status=status)
        return [*sessions, session]

    with handle_signals(), protected(deliver=False):  # signals reach only the trials (see core/signals.py)
        try:
            with interruptible():
                _execute(store, manifest, trials, logging=logging, **options)
        except KeyboardInterrupt as exc:
            result = _finish(
                store, manifest, ended("interrupted"), "interrupted", getattr(exc, "signum", None), logging
            )
            if reraise_interrupt:
                raise
            return result
        except OutputError as exc:  # e.g. the disk filled up: say where the finished trials are
            with contextlib.suppress(OSError):
                _finish(store, manifest, ended("failed"), "failed", logging=logging)
            raise OutputError(
                f"{exc}; the finished trials are kept in {store.path}: finish them with --resume"
            ) from exc
        except Exception as exc:  # a backend's error: record it, keep what finished, then let it through
            with contextlib.suppress(Exception):
                _finish(
                    store, manifest, ended("failed"), "failed", logging=logging, error=f"{type(exc).__name__}: {exc}"
                )
            raise
        return _finish(store, manifest, ended("complete"), "complete", logging=logging)


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
    trials: int | None = None,
    sampler: str | None = None,
    pruner: str | None = None,
    scheduler: str | None = None,
    retries: int | None = None,
    logger: LoggerSpec | None = None,
    max_trials: int | None = None,
    reraise_interrupt: bool = True,
) -> SweepResult:
    """Run a sweep of ``experiment`` into a new folder ``out/EXPERIMENT/<timestamp>``.

    Args:
        experiment: an experiment reference: a registered name, ``path/to/file.py:NAME``
            or ``package.module:NAME`` (recorded in ``sweep.json`` as its name and
            source, which every worker and ``--resume`` load); None or empty with ``resume``.
        grid: axes such as ``"p1=0.1,0.5"`` or ``"lr=log:0.01:1:5"``.
        seeds: seeds per configuration (the experiment's default seed, +1, +2...); None: 1.
        select: ``"val=FRACTION"``, ``"kfold=K"`` or None (no selection).
        backend: ``auto`` (vectorized when possible, else local), ``local``, ``vectorized``, ``ray``,
            ``optuna`` (a search of the axes' ranges, see :mod:`reglab.sweeps.space`).
        workers: processes (local) or CPUs (ray); None: one per core.
        ray_address: an existing Ray cluster (``ray`` backend); None starts a local one.
        device: where trials train; None: ``cpu``.
        out: the parent of sweep folders; None: ``sweeps``.
        resume: a sweep folder to finish instead; every setting then comes from its
            ``sweep.json``, and giving an experiment, grid, seeds, select, device or out is refused.
        quiet: no progress bar.
        command: the command line recorded in ``sweep.json``.
        trials, sampler, pruner: ``optuna``'s budget (configurations), sampler and pruner.
        scheduler, retries: ``ray``'s Tune scheduler (``"asha"``) and retries of lost trials.
        (See :mod:`reglab.sweeps.options`.)
        logger: log every trial to TensorBoard (``SWEEP/tb/trial-NNNN``) or
            MLflow (runs nested under the sweep's): its knobs and seed, its
            epochs where it trains through ``fit``, its final metrics.
        max_trials: the most trials allowed (an Optuna budget included); None:
            :data:`~reglab.sweeps.sessions.MAX_TRIALS` (10000).
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
            logger=logger,
        )
    if not experiment:
        raise ConfigError("reglab sweep needs an experiment (or --resume DIR)")
    check_choice("backend", backend, BACKENDS)
    if workers is not None:
        check_int("workers", workers, low=1)
    device = "cpu" if device is None else device
    resolve_device(device)  # a bad device is refused for every backend, before the folder exists
    # Unknown names fail here, listing the valid ones; a user's file or module is loaded.
    found = get_experiment(experiment)
    experiment = found.ref  # NAME or SOURCE:NAME with an absolute path: what every worker can load
    spec = get_spec(experiment)
    _check_backend(experiment, spec, backend)
    seeds = 1 if seeds is None else seeds
    selection = parse_select(select)
    search = SearchOptions(trials, sampler, pruner, scheduler, retries).checked(backend, selection, workers)
    config_type, seed_list = get_experiment(experiment).config_type, _seeds(experiment, seeds)
    splits = int(selection.value) if selection is not None and selection.kind == "kfold" else 1
    parsed: Grid | SearchSpace
    if backend == "optuna":
        check_size(search.trials or 0, len(seed_list), splits, max_trials)
        parsed = parse_space(grid, config_type, spec)
        for corner in parsed.corners():  # every range's ends must make valid configs
            make_trials(experiment, single_point_grid(corner), spec, seed_list, selection)
        todo: list[Trial] = []
    else:
        parsed = parse_grid(grid, config_type, spec, max_values=max_trials)
        check_size(len(parsed), len(seed_list), splits, max_trials)
        todo = make_trials(experiment, parsed, spec, seed_list, selection)
    if logger is not None:
        logger.check(experiment)  # before the folder is made
    manifest = {
        "experiment": found.name,
        "source": found.source,
        "grid": parsed.to_json(),
        "knobs": parsed.keys,
        "seeds": seeds,
        "select": str(selection) if selection is not None else None,
        "backend": backend,
        "device": device,
        "workers": workers or default_workers(),
        "command": command if command is not None else sys.argv,
        "search": search.to_json(),
        "git": git_state(),
        "trials": [dataclasses.asdict(t) for t in todo],
    }
    # From the folder's creation on, a signal is held until the trials run (where it is recorded).
    with handle_signals(), protected(deliver=False):
        store = SweepStore.create("sweeps" if out is None else out, found.name, manifest, parsed.keys)
        return _run(
            store,
            manifest,
            todo,
            resumed=False,
            reraise_interrupt=reraise_interrupt,
            logger=logger,
            backend=backend,
            workers=workers,
            ray_address=ray_address,
            quiet=quiet,
        )


def _check_backend(experiment: str, spec: SweepSpec, backend: str) -> None:
    """Refuse, before the folder is made, a backend this experiment or this installation cannot run."""
    if backend == "vectorized" and spec.vectorized_trainer() is None:
        raise ConfigError(f"experiment {experiment!r} has no vectorized trainer; use --backend local or ray")
    if backend == "ray":  # a missing extra: one sentence naming it (MissingExtraError)
        from .backends.ray_tune import import_ray

        import_ray()
    elif backend == "optuna":
        from .backends.optuna_search import import_optuna

        import_optuna()


def _resume_backend(manifest: dict[str, Any], backend: str) -> str:
    """A search resumes on its own backend; a grid on any but ``optuna``. Ray's
    scheduler and retries apply only if it resumes on ``ray``."""
    was = manifest.get("backend")
    if was == "optuna" and backend not in ("auto", "optuna"):
        raise ConfigError(f"--resume: this sweep is an Optuna search; it resumes on --backend optuna, not {backend}")
    if was != "optuna" and backend == "optuna":
        raise ConfigError("--resume: this sweep is a grid; --backend optuna searches ranges in a new sweep")
    if was == "optuna":
        return "optuna"
    if was == "ray" and backend == "auto" and manifest.get("search", {}).get("scheduler"):
        return "ray"  # its scheduler runs on Ray only
    return backend


def resume_sweep(
    path: str | Path,
    *,
    backend: str = "auto",
    workers: int | None = None,
    ray_address: str | None = None,
    quiet: bool = False,
    logger: LoggerSpec | None = None,
    reraise_interrupt: bool = True,
) -> SweepResult:
    """Run the unfinished trials of the sweep in ``path`` (complete, diverged and stopped
    ones are kept); an Optuna search continues its study up to its budget; ``logger``
    logs the trials run now.

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
        experiment = make_ref(manifest["experiment"], manifest.get("source"))
        get_experiment(experiment)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"--resume: {Path(path) / 'sweep.json'} is not a readable sweep manifest ({exc})") from None
    resolve_device(manifest["device"])
    backend = _resume_backend(manifest, backend)
    _check_backend(experiment, get_spec(experiment), backend)
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
            logger=logger,
            backend=backend,
            workers=workers,
            ray_address=ray_address,
            quiet=quiet,
        )
