"""The Ray backend: the sweep's trials as Ray Tune trials (``pip install reglab[ray]``).

Ray is imported here only. Without ``address`` a local Ray instance is started
(``ray.init(num_cpus=workers, include_dashboard=False)``) and shut down at the
end; with ``address`` (``--ray-address``) the trials run on that cluster,
whose nodes must have reglab (and torch, and the data) installed. Each Tune
trial runs :func:`~reglab.sweeps.trial.run_trial` on one CPU; a Tune callback
in this process stores every row as its trial finishes, so ``results.csv`` is
the same as with the other backends, plus the node that ran each trial
(``node``: the first 12 hex digits of its Ray node id, ``node_ip``, and
``node_label``: the node's ``reglab-node`` label, given by ``ray start
--labels reglab-node=NAME``).

Every epoch is reported (``tune.report``, no checkpoint) with the epoch's
metrics, so that ``scheduler="asha"`` (Ray Tune's ASHA on the validation
metric, ``epoch`` as its time, grace period 1 epoch, reduction factor 2) can
stop trials that fall behind; a stopped trial's row is made here from its last
report, with status ``stopped`` and the epoch reached. A fit's last epoch is
reported with the trial's final row instead, so that the scheduler never cuts
a trial that has finished its training.

``retries``: a trial whose worker process or node died (its Tune trial
errored) runs again from the start, up to ``retries`` times, in a fresh Tune
run (``tune-N+1``) once the others have finished; trials are deterministic on
the CPU, so its row is the one it would have had. Tune's own ``max_failures``
is not used, because Ray 2.60's Tune can give up on a trial with retries left
when the loss of its actor is reported twice. A trial still lost after its
retries is recorded as failed with Ray's error; a trial that raises inside
reglab is not retried: it is recorded as failed.

Trials run in Ray's worker processes, which start with an empty registry: the
experiment travels as its reference (``NAME`` or ``SOURCE:NAME``), and each
worker loads the source before looking the name up, a user's file by its
absolute path (so on a cluster of several machines the file must be at the
same path on every node, or be a module installed there). An experiment
registered at run time in the driver without a source (e.g. in a test) is not
found there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ...core.errors import MissingExtraError
from ...loggers import LoggerSpec
from ...runs.runner import make_config
from ...runs.sweep_spec import SweepSpec
from ..reporting import EPOCHS_RUN, STOPPED, EpochReport, EpochReporter
from ..trial import Trial, metrics_of, run_trial, trial_row
from .local import default_workers

__all__ = ["run_ray", "import_ray", "node_columns", "NODE_LABEL"]

NODE_LABEL = "reglab-node"
# Tune's settings while reglab drives it: Ctrl-C raises KeyboardInterrupt in the
# driver (Tune's own handler would end the run as if it had finished, and the sweep
# then records itself as interrupted); Tune's legacy output engine, silent at
# verbose=0 (the new one prints its boxes and each error even then); no traceback
# per lost trial, as reglab says in one line what happened to it.
_TUNE_ENV = {
    "TUNE_DISABLE_SIGINT_HANDLER": "1",
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",
}


def import_ray() -> Any:
    """``ray`` and ``ray.tune``; without them a MissingExtraError naming the extra to install."""
    try:
        import ray
        from ray import tune
    except ImportError:
        raise MissingExtraError("the ray backend needs Ray Tune: pip install 'reglab[ray]'") from None
    return ray, tune


def node_columns() -> dict[str, str]:
    """The row columns naming the Ray node this process runs on."""
    import ray

    context = ray.get_runtime_context()
    label = context.get_node_labels().get(NODE_LABEL, "")
    if isinstance(label, list):  # some Ray versions list a label's values
        label = ",".join(label)
    return {"node": context.get_node_id()[:12], "node_ip": ray.util.get_node_ip_address(), "node_label": str(label)}


def _trainable(config: dict[str, Any]) -> dict[str, Any]:
    import torch
    from ray import tune

    torch.set_num_threads(1)
    trial = Trial(**config["trial"])
    node = node_columns()
    metric = config["metric"]

    def report(epoch: EpochReport) -> str | None:
        if not epoch.last:  # the last epoch comes with the final row
            tune.report({"trial": trial.index, "epoch": epoch.epoch, **epoch.metrics, **node})
        return None  # a scheduler's stop ends this thread inside tune.report

    reporter = EpochReporter(report)
    logger = LoggerSpec(**config["logger"]) if config.get("logger") else None
    row = run_trial(config["experiment"], trial, config["device"], reporter=reporter, logger=logger)
    row.update(node)
    final = {"trial": trial.index, "epoch": max(1, reporter.epochs), "row": row, **node}
    if metric is not None:
        value = row.get(metric, reporter.last_metrics.get(metric, math.nan))
        final[metric] = value if isinstance(value, float) else math.nan
    return final


def _stopped_row(trial: Trial, last: dict[str, Any], scheduler: str, metric: str | None) -> dict[str, Any]:
    """The row of a trial the scheduler stopped, from its last per-epoch report."""
    epoch = int(last.get("epoch", 0))
    value = last.get(metric, math.nan) if metric else math.nan
    why = f"stopped by the {scheduler} scheduler after epoch {epoch} ({metric} {value:.4g})"
    row = trial_row(trial, metrics_of(last), float(last.get("time_total_s", 0.0)), STOPPED, why)
    row[EPOCHS_RUN] = epoch
    row.update({k: last[k] for k in ("node", "node_ip", "node_label") if k in last})
    return row


def _max_epochs(experiment: str, trials: Sequence[Trial]) -> int:
    epochs = [getattr(make_config(experiment, t.overrides), "epochs", None) for t in trials]
    known = [e for e in epochs if isinstance(e, int) and not isinstance(e, bool)]
    if not known:
        from ...core.errors import ConfigError

        raise ConfigError(f"--scheduler needs an experiment trained in epochs; {experiment!r} has no `epochs` setting")
    return max(known)


def _error_of(trial: Any) -> str:
    """The first line of a failed Tune trial's last error (its type and message).

    Tune has just pickled the error beside the trial's local files (its storage
    copy is synced later)."""
    error: Any = None
    with contextlib.suppress(Exception):  # the file is Tune's; without it the trial still fails honestly
        from ray import cloudpickle

        error = cloudpickle.loads(Path(trial.pickled_error_file).read_bytes())
    if error is None:
        return "the trial's worker or node died"
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def _fit_once(
    tune: Any,
    experiment: str,
    trials: Sequence[Trial],
    root: Path,
    store: Any,
    scheduler: Any,
    workers: int | None,
    device: str,
    metric: str | None,
    logger: LoggerSpec | None,
) -> None:
    """One Tune run of ``trials`` in a new ``root/tune-N``; Tune itself retries nothing.

    Tune's own ``max_failures`` is not used: Ray 2.60's Tune can count the loss of one
    actor twice and give up on a trial that had retries left (its second failure
    arrives while the trial is already queued again), so lost trials are run again
    by the caller, in a fresh Tune run.
    """
    space = {
        "experiment": experiment,
        "device": device,
        "metric": metric,
        "logger": dataclasses.asdict(logger) if logger is not None else None,
        "trial": tune.grid_search(
            [
                {"index": t.index, "point": t.point, "seed": t.seed, "fold": t.fold, "overrides": t.overrides}
                for t in trials
            ]
        ),
    }
    name = f"tune-{len(list(root.glob('tune-*'))) + 1}" if root.is_dir() else "tune-1"
    tuner = tune.Tuner(
        tune.with_resources(_trainable, {"cpu": 1}),
        param_space=space,
        tune_config=tune.TuneConfig(reuse_actors=True, scheduler=scheduler, max_concurrent_trials=workers),
        run_config=tune.RunConfig(
            storage_path=str(root),
            name=name,
            callbacks=[store],
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )
    with _tune_settings():
        tuner.fit()


@contextlib.contextmanager
def _tune_settings() -> Iterator[None]:
    """``_TUNE_ENV`` in the environment, and Tune's "Trials did not complete" error
    silenced (reglab records those trials itself), for one ``Tuner.fit``."""
    import logging

    previous = {key: os.environ.get(key) for key in _TUNE_ENV}
    os.environ.update(_TUNE_ENV)
    tune_logger = logging.getLogger("ray.tune.tune")
    level = tune_logger.level
    tune_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        tune_logger.setLevel(level)
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _say(message: str) -> None:
    """One line on stderr that leaves a progress bar intact."""
    from tqdm.auto import tqdm

    tqdm.write(f"reglab: {message}", file=sys.stderr)


def run_ray(
    experiment: str,
    trials: Sequence[Trial],
    on_result: Callable[[dict[str, Any]], None],
    *,
    workers: int | None = None,
    address: str | None = None,
    device: str = "cpu",
    storage: str | Path = "ray",
    progress: Any = None,
    spec: SweepSpec | None = None,
    scheduler: str | None = None,
    retries: int = 0,
    logger: LoggerSpec | None = None,
) -> None:
    """Run ``trials`` as Ray Tune trials; call ``on_result(row)`` as each finishes.

    Args:
        experiment: the experiment's reference (``Experiment.ref``: ``NAME`` or ``SOURCE:NAME``).
        trials: the trials to run.
        on_result: receives each finished row (in this process).
        workers: at most this many trials at once, and the CPUs of a local Ray
            instance (None: one per core locally, as many as the cluster's CPUs allow).
        address: a Ray cluster address; None starts a local instance.
        device: where each trial trains.
        storage: the folder for Tune's own files (made absolute); each call uses
            a new ``tune-N`` inside it.
        progress: a tqdm bar (or None) advanced per finished trial.
        spec: the experiment's sweep spec (the validation metric and its direction).
        scheduler: ``"asha"`` or None (every trial runs to the end).
        retries: how often a trial whose worker or node died runs again (in a new Tune run).
        logger: each trial's logger spec (opened on the Ray worker), or None.
    """
    if not trials:
        return
    ray, tune = import_ray()
    from ray.tune import Callback

    metric = spec.metric_key("val") if spec is not None and scheduler is not None else None
    by_index = {t.index: t for t in trials}
    seen: set[int] = set()
    last_report: dict[int, dict[str, Any]] = {}
    stopped_by_scheduler: set[int] = set()
    failures: dict[int, int] = {}  # trial index -> times its Tune trial errored
    errors: dict[int, str] = {}  # trial index -> its last error, in one line

    def store(row: dict[str, Any]) -> None:
        seen.add(int(row["trial"]))
        on_result(row)
        if progress is not None:
            progress.update(1)

    class _Store(Callback):
        def on_trial_result(
            self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
        ) -> None:
            row = result.get("row")
            if row is not None:
                if row["trial"] not in seen:
                    store(row)
            elif "trial" in result:
                last_report[int(result["trial"])] = dict(result)
                if result.get("done"):  # the scheduler's decision: stop here
                    stopped_by_scheduler.add(int(result["trial"]))

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            index = trial.config["trial"]["index"]
            if index not in seen and index in by_index and index in stopped_by_scheduler:
                store(_stopped_row(by_index[index], last_report[index], str(scheduler), metric))

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            index = trial.config["trial"]["index"]
            failures[index] = failures.get(index, 0) + 1
            errors[index] = _error_of(trial)
            if failures[index] <= retries:
                then = f"it runs again once the others have finished (retry {failures[index]} of {retries})"
            else:
                then = "no retries left (--retries): it is recorded as failed"
            _say(f"trial {index} lost its Ray worker or node ({errors[index]}); {then}")

    max_epochs = _max_epochs(experiment, trials) if scheduler == "asha" else 0

    def make_scheduler() -> Any:  # a fresh one per Tune run: a scheduler keeps its trials' state
        if scheduler != "asha":
            return None
        from ray.tune.schedulers import ASHAScheduler

        assert spec is not None and metric is not None
        return ASHAScheduler(
            time_attr="epoch",
            metric=metric,
            mode=spec.mode,
            max_t=max_epochs,
            grace_period=1,
            reduction_factor=2,
        )

    started = False
    if not ray.is_initialized():
        if address is None:
            ray.init(
                num_cpus=workers or default_workers(),
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        else:
            ray.init(address=address, log_to_driver=False)
        started = True
    try:
        root = Path(storage).resolve()
        pending = list(trials)
        while pending:
            before = dict(failures)
            _fit_once(tune, experiment, pending, root, _Store(), make_scheduler(), workers, device, metric, logger)
            left = [t for t in pending if t.index not in seen]
            # A trial lost with its worker or node in this run goes again while it has retries left.
            pending = [t for t in left if before.get(t.index, 0) < failures.get(t.index, 0) <= retries]
            for t in left:
                if t not in pending:
                    reason = errors.get(t.index, "the trial ended without a result")
                    store(trial_row(t, {}, 0.0, "failed", f"ray: {reason}"))
    finally:
        if started:
            ray.shutdown()
