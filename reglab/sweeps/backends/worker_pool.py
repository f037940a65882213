"""Worker processes that never outlive the sweep that started them.

:class:`WorkerPool` runs ``fn(*args)`` calls in ``size`` worker processes, one
call per worker at a time, and yields results as they finish. Unlike
``concurrent.futures.ProcessPoolExecutor``:

- a worker exits on its own when its parent dies, whatever killed the parent
  (SIGKILL, the OOM killer): on Linux the kernel sends it SIGKILL
  (``prctl(PR_SET_PDEATHSIG)``), and everywhere a watchdog thread checks twice a
  second that the parent is still its parent. An orphaned worker blocked on its
  task pipe would otherwise live on, holding its memory;
- Ctrl-C, SIGTERM or an error in the parent terminates the workers at once
  (:meth:`WorkerPool.close`), instead of waiting for their calls to finish;
- a worker that dies during a call (killed, out of memory) fails that call only
  (:class:`WorkerDied` in its place) and is replaced; the pool goes on.

Workers ignore SIGINT (a Ctrl-C in a terminal reaches the whole process group;
the parent decides what happens) and take SIGTERM's default action (exit).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

__all__ = ["WorkerPool", "WorkerDied", "PARENT_CHECK_SECONDS"]

PARENT_CHECK_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class WorkerDied(Exception):
    """The worker running a call died before returning its result."""


def _die_with_parent(parent: int) -> None:
    """Make this process exit when ``parent`` is no longer its parent."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_SECONDS)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="reglab-parent-watchdog", daemon=True).start()


def _worker_main(conn: Connection, parent: int, initializer: Callable[[], None] | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent)
    if initializer is not None:
        initializer()
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the parent closed the pipe
            return
        if task is None:
            return
        fn, args = task
        try:
            conn.send((True, fn(*args)))
        except Exception as exc:
            conn.send((False, f"{type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self, context: Any, initializer: Callable[[], None] | None) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(child, os.getpid(), initializer), name="reglab-sweep-worker", daemon=True
        )
        self.process.start()
        child.close()
        self.task: Any = None  # the key of the call it runs, or None when idle


class WorkerPool:
    """``size`` worker processes from the multiprocessing ``context``; use as a context manager.

    Args:
        size: the number of workers, >= 1.
        context: a multiprocessing context (``fork`` or ``spawn``).
        initializer: called once in each worker before its first call.
    """

    def __init__(self, size: int, context: Any, initializer: Callable[[], None] | None = None) -> None:
        self.context = context
        self.initializer = initializer
        self.workers = [_Worker(context, initializer) for _ in range(size)]

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers if w.process.pid is not None]

    def map_unordered(
        self, fn: Callable[..., Any], calls: Sequence[tuple[Any, tuple[Any, ...]]]
    ) -> Iterator[tuple[Any, Any]]:
        """Run ``fn(*args)`` for each ``(key, args)`` of ``calls``, one per idle worker, and yield
        ``(key, result)`` as each finishes. A call that raised gives a ``RuntimeError`` with the
        error's text as its result, a call whose worker died a :class:`WorkerDied`."""
        queue = list(calls)
        while queue or any(w.task is not None for w in self.workers):
            for worker in self.workers:
                if worker.task is None and queue:
                    key, args = queue.pop(0)
                    worker.conn.send((fn, args))
                    worker.task = key
            busy = [w for w in self.workers if w.task is not None]
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                if worker.conn in ready:
                    try:
                        ok, value = worker.conn.recv()
                    except (EOFError, OSError):  # it died before its result was complete
                        pass
                    else:
                        key, worker.task = worker.task, None
                        yield key, value if ok else RuntimeError(value)
                        continue
                if worker.process.sentinel in ready or not worker.process.is_alive():
                    key, worker.task = worker.task, None
                    worker.process.join(timeout=5)  # reaped, so its exit code is known
                    code = worker.process.exitcode
                    self._replace(worker)
                    yield key, WorkerDied(_death(code))

    def _replace(self, worker: _Worker) -> None:
        worker.conn.close()
        worker.process.join(timeout=1)
        index = self.workers.index(worker)
        self.workers[index] = _Worker(self.context, self.initializer)

    def close(self, *, terminate: bool = False, timeout: float = 5.0) -> None:
        """Let idle workers exit and terminate busy ones (all of them with ``terminate``);
        every worker process is gone afterwards."""
        for worker in self.workers:
            with contextlib.suppress(OSError, ValueError):
                if terminate or worker.task is not None:
                    worker.process.terminate()
                else:
                    worker.conn.send(None)
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.close(terminate=exc is not None, timeout=5.0 if exc is None else 2.0)


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name if -exitcode in signal.valid_signals() else f"signal {-exitcode}"
        hint = " (the out-of-memory killer sends SIGKILL)" if -exitcode == signal.SIGKILL else ""
        return f"the worker process was killed by {name}{hint}"
    return f"the worker process exited with code {exitcode}"
