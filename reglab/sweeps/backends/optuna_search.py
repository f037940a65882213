"""The Optuna backend: a search over continuous ranges instead of a grid
(``pip install 'reglab[optuna]'``; Optuna is imported here only).

One Optuna trial is one configuration sampled from the
:class:`~reglab.sweeps.space.SearchSpace`; it runs that configuration's reglab
trials (every seed and validation fold, :func:`~reglab.sweeps.trial.run_trial`)
one after another with one torch thread (as the other backends' trials: the
same rows), each row stored at once as with a grid. The objective is
the validation metric averaged over the folds, then over the seeds (what the
selection ranks), in the experiment's direction: the test set is never seen.

Pruning: every epoch reports the validation metric to the trial at step =
epochs trained so far by the configuration (over its seeds and folds, so a
step compares the same seed, fold and epoch across configurations); the pruner
(median, successive halving, Hyperband, or none) may stop it. The reglab trial
is then recorded as ``stopped`` with the epoch reached, the configuration's
remaining seeds and folds as ``stopped`` with 0 epochs, and the Optuna trial
as pruned. A configuration whose trials diverged or failed is an Optuna
failure (no value) that counts as tried.

The study lives in the sweep folder (``optuna.journal``, Optuna's journal file
storage, safe for several processes on one file system): ``reglab sweep
--resume DIR`` continues it, and runs started while another works on it (on
this machine, or on others sharing the folder) share the budget. The budget
``--trials N`` counts configurations finished (complete, pruned or failed);
each process stops once N are, so P processes may finish up to P - 1 more.
A configuration cut short by Ctrl-C or a killed process (its process on this
machine no longer alive) is tried again, with its finished seeds and folds
kept, by the next run on the study.
"""

from __future__ import annotations

import importlib.util
import math
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ...core.errors import MissingExtraError
from ...runs.sweep_spec import SweepSpec
from ..options import SearchOptions
from ..reporting import EPOCHS_RUN, STOPPED, EpochReport, EpochReporter, finite
from ..selection import aggregate
from ..space import SearchSpace
from ..store import SweepStore
from ..trial import Trial, run_trial, trial_row

__all__ = ["run_optuna", "import_optuna", "study_summary", "open_study", "STORAGE", "STUDY"]

STORAGE = "optuna.journal"
STUDY = "reglab"
_PRIMITIVE = (bool, int, float, str, type(None))


def import_optuna() -> Any:
    """``optuna`` (quiet); without it a MissingExtraError naming the extra to install."""
    try:
        import optuna
    except ImportError:
        raise MissingExtraError("the optuna backend needs Optuna: pip install 'reglab[optuna]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def open_study(path: str | Path, spec: SweepSpec, options: SearchOptions, *, seed: int = 0) -> Any:
    """The sweep folder's study (created on first use), with the options' sampler and pruner."""
    optuna = import_optuna()
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(Path(path) / STORAGE)))
    return optuna.create_study(
        storage=storage,
        study_name=STUDY,
        direction="maximize" if spec.mode == "max" else "minimize",
        sampler=_sampler(optuna, options.sampler or "tpe", seed),
        pruner=_pruner(optuna, options.pruner or "median"),
        load_if_exists=True,
    )


def _sampler(optuna: Any, name: str, seed: int) -> Any:
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        if importlib.util.find_spec("cmaes") is None:  # CmaEsSampler imports it when it first samples
            raise ImportError("--sampler cmaes needs the cmaes package: pip install 'reglab[optuna]'")
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    # constant_liar: configurations running in other processes count as bad
    # guesses meanwhile, so that parallel workers do not all sample one spot.
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def _pruner(optuna: Any, name: str) -> Any:
    pruners = optuna.pruners
    return {
        "median": lambda: pruners.MedianPruner(n_startup_trials=5),
        "sha": lambda: pruners.SuccessiveHalvingPruner(),
        "hyperband": lambda: pruners.HyperbandPruner(),
        "none": lambda: pruners.NopPruner(),
    }[name]()


def _suggest(trial: Any, space: SearchSpace) -> dict[str, Any]:
    point: dict[str, Any] = {}
    for d in space.dims:
        if d.kind == "float":
            point[d.key] = trial.suggest_float(d.key, d.low, d.high, log=d.log)
        elif d.kind == "int":
            point[d.key] = trial.suggest_int(d.key, round(d.low or 0), round(d.high or 0), log=d.log)
        elif all(isinstance(c, _PRIMITIVE) for c in d.choices):
            point[d.key] = trial.suggest_categorical(d.key, list(d.choices))
        else:  # Optuna stores only plain values: tuples are chosen by their text
            by_text = {repr(c): c for c in d.choices}
            point[d.key] = by_text[trial.suggest_categorical(d.key, list(by_text))]
    return point


# --- who runs a trial: a configuration left running by a dead process is tried again


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: start time, in clock ticks after boot


def _owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": _start_time(os.getpid())}


def _owner_gone(owner: Any) -> bool:
    """The trial's process ran on this machine and is no longer alive (the pid reused counts as gone)."""
    if not isinstance(owner, dict) or owner.get("host") != socket.gethostname():
        return False
    return _start_time(int(owner["pid"])) != owner.get("start")


def _recover(study: Any, optuna: Any) -> None:
    """Fail the trials whose process died while running them, and queue a retry of
    every trial cut short (no ``status``) that has none yet."""
    state = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    for t in trials:
        if t.state == state.RUNNING and _owner_gone(t.user_attrs.get("owner")):
            study._storage.set_trial_state_values(t._trial_id, state=state.FAIL)
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for t in trials:
        if t.state == state.FAIL and "status" not in t.user_attrs and t.number not in retried:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})


def _budget_used(study: Any, optuna: Any) -> int:
    """Configurations finished: complete, pruned or failed, not counting those tried again."""
    state = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    done = (state.COMPLETE, state.PRUNED, state.FAIL)
    return sum(t.state in done and t.number not in retried for t in trials)


def _lineage(study: Any, number: int | None) -> set[int]:
    """The numbers of the trials a retry stands for (a retry of a retry...)."""
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    out: set[int] = set()
    while number is not None and number not in out and number in by_number:
        out.add(number)
        number = by_number[number].user_attrs.get("retry_of")
    return out


def run_optuna(
    experiment: str,
    store: SweepStore,
    space: SearchSpace,
    expand: Callable[[dict[str, Any]], Sequence[Trial]],
    options: SearchOptions,
    *,
    spec: SweepSpec,
    device: str = "cpu",
    progress: Any = None,
) -> None:
    """Search ``space`` until the study in ``store``'s folder has ``options.trials``
    finished configurations; every reglab trial's row goes to ``store`` at once.

    Args:
        experiment: the registered experiment name.
        store: the sweep folder (rows, and the study's ``optuna.journal``).
        space: the dimensions to sample.
        expand: a configuration's point -> its trials (seeds x folds), indexed from 0.
        options: ``trials`` (the budget), ``sampler``, ``pruner``.
        spec: the experiment's sweep spec (metric, direction).
        device: where trials train.
        progress: a tqdm bar (or None) advanced per stored row.
    """
    optuna = import_optuna()
    budget = int(options.trials or 0)
    knobs = space.keys
    val_key = spec.metric_key("val")
    first_seed = expand(space.corners()[0])[0].seed
    study = open_study(store.path, spec, options, seed=first_seed)
    _recover(study, optuna)
    if study.trials:  # another process or an earlier run: draw from another random stream
        study.sampler = _sampler(optuna, options.sampler or "tpe", first_seed + 7919 * len(study.trials))
    if progress is not None:  # rows this process may run: the configurations left x seeds x folds
        progress.total = max(0, budget - _budget_used(study, optuna)) * len(expand(space.corners()[0]))
        progress.refresh()

    def record(row: dict[str, Any]) -> None:
        store.record(row)
        if progress is not None:
            progress.update(1)

    def objective(trial: Any) -> float:
        trial.set_user_attr("owner", _owner())
        point = _suggest(trial, space)
        subs = list(expand(point))
        width = len(subs)
        subs = [replace(t, index=trial.number * width + j) for j, t in enumerate(subs)]
        reuse = _reusable_rows(store, study, trial)
        rows: list[dict[str, Any]] = []
        offset = 0
        for j, sub in enumerate(subs):
            key = (repr(sub.seed), repr("" if sub.fold is None else sub.fold))
            if key in reuse:
                rows.append(reuse[key])
                continue
            reporter = EpochReporter(_pruning_report(trial, val_key, offset, options.pruner or "median"))
            row = run_trial(experiment, sub, device, reporter=reporter)
            row["study_trial"] = trial.number
            record(row)
            rows.append(row)
            offset += reporter.epochs
            last = j == width - 1
            if row["status"] == STOPPED or (not last and row["status"] == "complete" and trial.should_prune()):
                why = row["error"] or f"pruned by the {options.pruner} pruner after seed {sub.seed}"
                for rest in subs[j + 1 :]:
                    skipped = trial_row(rest, {}, 0.0, STOPPED, f"not run: {why}")
                    skipped.update({EPOCHS_RUN: 0, "study_trial": trial.number})
                    record(skipped)
                raise optuna.TrialPruned(why)
        bad = sorted({r["status"] for r in rows if r["status"] in ("diverged", "failed")})
        if bad:
            trial.set_user_attr("status", "/".join(bad))
            return math.nan  # Optuna records the configuration as failed
        trial.set_user_attr("status", "complete")
        (item,) = aggregate(rows, knobs, spec)
        value = item[f"{val_key}_mean"]
        return float(value) if finite(value) else math.nan

    def stop_at_budget(study: Any, _trial: Any) -> None:
        if _budget_used(study, optuna) >= budget:
            study.stop()

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the other backends' trials: the same numbers, and no fight over cores
    try:
        if _budget_used(study, optuna) < budget:
            study.optimize(objective, callbacks=[stop_at_budget])
    finally:
        torch.set_num_threads(threads)
        store.reload()  # rows that other processes on this study stored meanwhile


def _pruning_report(trial: Any, val_key: str, offset: int, pruner: str) -> Callable[[EpochReport], str | None]:
    def report(epoch: EpochReport) -> str | None:
        value = epoch.metrics.get(val_key)
        if not finite(value):
            return None
        trial.report(value, offset + epoch.step)
        if not epoch.last and trial.should_prune():
            return f"pruned by the {pruner} pruner at epoch {epoch.epoch} ({val_key} {value:.4g})"
        return None

    return report


def _reusable_rows(store: SweepStore, study: Any, trial: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """The finished rows of the trials a retry stands for, by seed and fold."""
    lineage = _lineage(study, trial.user_attrs.get("retry_of"))
    if not lineage:
        return {}
    store.reload()
    return {
        (repr(r["seed"]), repr(r["fold"])): r
        for r in store.rows
        if r.get("study_trial") in lineage and r.get("status") in ("complete", "diverged")
    }


def study_summary(path: str | Path, spec: SweepSpec, options: SearchOptions) -> dict[str, Any]:
    """The study's state for ``summary.json``: trials by state and Optuna's best trial."""
    optuna = import_optuna()
    study = open_study(path, spec, options)
    trials = study.get_trials(deepcopy=False)
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    out: dict[str, Any] = {
        "storage": STORAGE,
        "study": STUDY,
        "sampler": options.sampler,
        "pruner": options.pruner,
        "budget": options.trials,
        "trials": states,
        "configurations_finished": _budget_used(study, optuna),
    }
    if complete:
        best = study.best_trial
        out.update(best_trial=best.number, best_value=best.value, best_params=best.params)
    return out
