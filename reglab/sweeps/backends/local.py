"""The local backend: trials in parallel worker processes, one per core by default.

Each worker runs ``torch.set_num_threads(1)`` (N single-threaded trials beat
one N-threaded trial for small models, and they do not fight over cores).
Results come back as trials finish and are handed to ``on_result`` in this
process, which stores them at once. One worker (or one trial) runs in this
process, without a pool. On Ctrl-C or SIGTERM the workers are terminated at
once and the exception propagates; every finished row has already been stored.
The workers (:class:`~reglab.sweeps.backends.worker_pool.WorkerPool`) exit on
their own if this process dies, even by SIGKILL; a worker that dies mid-trial
(e.g. the out-of-memory killer) fails that trial only, and is replaced.

Workers are forked on the CPU (fast, and they see experiments registered at
run time, e.g. in tests); with CUDA they are spawned, since a forked process
cannot use a CUDA context its parent created. A spawned worker starts with an
empty registry: the experiment travels as its reference (``NAME`` or
``SOURCE:NAME``, a user's file by its absolute path), and ``run_trial`` loads
the source before looking the name up (see :mod:`reglab.runs.sources`).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ...core.checks import check_int
from ...loggers import LoggerSpec
from ..trial import Trial, run_trial, trial_row
from .worker_pool import WorkerPool

__all__ = ["run_local", "default_workers"]

OnResult = Callable[[dict[str, Any]], None]


def default_workers() -> int:
    """One worker per core available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _init_worker() -> None:
    torch.set_num_threads(1)


def _context(device: str) -> Any:
    methods = multiprocessing.get_all_start_methods()
    method = "fork" if device.startswith("cpu") and "fork" in methods else "spawn"
    return multiprocessing.get_context(method)


def run_local(
    experiment: str,
    trials: Sequence[Trial],
    on_result: OnResult,
    *,
    workers: int | None = None,
    device: str = "cpu",
    progress: Any = None,
    logger: LoggerSpec | None = None,
) -> None:
    """Run ``trials`` of ``experiment``; call ``on_result(row)`` as each one finishes.

    Args:
        experiment: the experiment's reference (``Experiment.ref``: ``NAME`` or ``SOURCE:NAME``).
        trials: the trials to run.
        on_result: receives each finished row (in this process).
        workers: worker processes; None means one per core.
        device: where each trial trains (``"cpu"``, ``"cuda"``...).
        progress: a tqdm bar (or None) advanced by one per finished trial.
        logger: each trial's logger spec (opened by the trial), or None.
    """
    workers = default_workers() if workers is None else check_int("workers", workers, low=1)
    workers = min(workers, len(trials)) if trials else 1
    task: Callable[[str, Trial, str], dict[str, Any]] = (
        run_trial if logger is None else functools.partial(run_trial, logger=logger)  # picklable for the pool
    )

    def done(row: dict[str, Any]) -> None:
        on_result(row)
        if progress is not None:
            progress.update(1)

    if workers == 1:
        for trial in trials:
            done(task(experiment, trial, device))
        return
    if _context(device).get_start_method() == "fork":
        # Building an optimizer imports torch._dynamo (seconds): do it once here, not in every worker.
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    calls = [(trial, (experiment, trial, device)) for trial in trials]
    with WorkerPool(workers, _context(device), initializer=_init_worker) as pool:
        for trial, row in pool.map_unordered(task, calls):
            if isinstance(row, BaseException):  # the worker died (or could not run the trial at all)
                row = trial_row(trial, {}, 0.0, "failed", str(row))
            done(row)
