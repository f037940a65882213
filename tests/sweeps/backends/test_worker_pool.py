"""The local backend's worker processes: they never outlive the sweep.

A worker exits when its parent dies, SIGKILL included (prctl's parent-death
signal on Linux, and a watchdog thread everywhere: both are tested); a worker
that dies mid-trial fails that trial only; an error or Ctrl-C in the parent
ends every worker at once.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import types
from pathlib import Path

import pytest

from reglab.sweeps.backends import worker_pool
from reglab.sweeps.backends.worker_pool import WorkerDied, WorkerPool

FORK = multiprocessing.get_context("fork")


def _work(x: int) -> int:
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # what the out-of-memory killer does
    if x == 4:
        raise ValueError("bad input")
    if x == 99:
        time.sleep(60)
    return x * x


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


def test_a_worker_that_dies_fails_its_call_only_and_is_replaced():
    with WorkerPool(2, FORK) as pool:
        results = dict(pool.map_unordered(_work, [(x, (x,)) for x in range(7)]))
    assert {k: v for k, v in results.items() if not isinstance(v, Exception)} == {0: 0, 1: 1, 2: 4, 5: 25, 6: 36}
    assert isinstance(results[3], WorkerDied)
    assert str(results[3]) == "the worker process was killed by SIGKILL (the out-of-memory killer sends SIGKILL)"
    assert isinstance(results[4], RuntimeError) and str(results[4]) == "ValueError: bad input"


def test_an_error_in_the_parent_ends_every_worker_at_once():
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt), WorkerPool(2, FORK) as pool:
        pids = pool.pids
        for _ in pool.map_unordered(_work, [(0, (0,)), (99, (99,))]):
            raise KeyboardInterrupt  # Ctrl-C while a call still runs (it would sleep a minute)
    assert all(_gone(pid, 1.0) for pid in pids) and time.monotonic() - start < 10


def _parent_of_a_busy_worker(conn, without_prctl: bool) -> None:
    if without_prctl:  # only the watchdog thread is left to notice the parent's death
        worker_pool.sys = types.SimpleNamespace(platform="elsewhere")
    pool = WorkerPool(1, FORK)
    conn.send(pool.pids[0])
    for _ in pool.map_unordered(_work, [(99, (99,))]):
        pass


@pytest.mark.parametrize("without_prctl", [False, True], ids=["parent-death signal", "watchdog"])
def test_workers_exit_when_their_parent_is_killed(without_prctl):
    ours, theirs = FORK.Pipe()
    parent = FORK.Process(target=_parent_of_a_busy_worker, args=(theirs, without_prctl))
    parent.start()
    worker = ours.recv()
    time.sleep(0.2)  # the worker is blocked in its call
    os.kill(parent.pid, signal.SIGKILL)
    parent.join()
    assert _gone(worker, within=0.5 + 3 * worker_pool.PARENT_CHECK_SECONDS)
