"""Ctrl-C and SIGTERM as one interruption, and final writes that no burst of signals can cut.

SIGTERM is what ``kill``, ``timeout``, Slurm, systemd and ``docker stop`` send;
inside :func:`handle_signals` it is handled like Ctrl-C: SIGINT and SIGTERM both
raise :class:`Interrupted`, a ``KeyboardInterrupt`` that remembers the signal
(``exit_code`` is the shell's 128 + its number: 130 for SIGINT, 143 for SIGTERM).

Only the first signal is raised. Signals that come after it (a user pressing
Ctrl-C several times, a scheduler repeating SIGTERM) are held, so the code that
records the interruption runs to its end; and inside :func:`protected` even the
first one is held until the block is over, so that a file written there (a
run's ``summary.json``) is never cut halfway. The runner and the sweep hold
signals from start to end and let them through only around the work itself
(:func:`interruptible`), so an interruption always lands where it is recorded. SIGKILL cannot be caught: what
survives it is what was already written (atomically, see :mod:`reglab.core.files`).

Python delivers signals to the main thread only: elsewhere these context
managers change nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

__all__ = [
    "Interrupted",
    "SignalLog",
    "handle_signals",
    "protected",
    "interruptible",
    "deliver_held",
    "held_signal",
    "ignore_signals",
    "signal_name",
    "SIGNALS",
]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM, raised inside :func:`handle_signals`.

    Attributes:
        signum: the signal's number.
        exit_code: ``128 + signum``, what a shell reports for a process ended by it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum
        self.exit_code = 128 + signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:  # pragma: no cover - every caught signal has a name
        return f"signal {signum}"


class _State:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.installed = False  # handle_signals is active
        self.protected = 0  # nesting depth of protected
        self.raised = False  # an Interrupted was raised already
        self.held: list[int] = []
        self.received: list[int] = []
        self.warned = False


_state = _State()


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _handler(signum: int, frame: FrameType | None) -> None:
    _state.received.append(signum)
    if _state.raised or _state.protected:
        _state.held.append(signum)
        if _state.raised and not _state.warned:
            _state.warned = True
            # os.write, not print: a signal handler may run in the middle of a print.
            os.write(2, b"reglab: interrupted; still saving what finished (kill -9 stops at once)\n")
        return
    _state.raised = True
    raise Interrupted(signum)


class SignalLog:
    """What :func:`handle_signals` yields: ``received`` lists the signals that came during
    the block (filled in when the block ends)."""

    def __init__(self) -> None:
        self.received: list[int] = []


@contextlib.contextmanager
def handle_signals() -> Iterator[SignalLog]:
    """SIGINT and SIGTERM raise :class:`Interrupted` (once) inside the block; the previous
    handlers come back after it. A nested block is the outer one's; off the main thread, nothing."""
    log = SignalLog()
    if _state.installed or not _on_main_thread():
        yield log
        return
    previous: dict[int, Any] = {s: signal.getsignal(s) for s in SIGNALS}
    _state.reset()
    _state.installed = True
    for s in SIGNALS:
        signal.signal(s, _handler)
    try:
        yield log
    finally:
        log.received = list(_state.received)
        for s in SIGNALS:
            signal.signal(s, previous[s])
        _state.reset()


def ignore_signals() -> None:
    """Ignore SIGINT and SIGTERM from now on: for a process that is exiting after an
    interruption, so that the rest of a burst cannot end it with a traceback."""
    if _on_main_thread():
        for s in SIGNALS:
            signal.signal(s, signal.SIG_IGN)


@contextlib.contextmanager
def protected(*, deliver: bool = True) -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, so that what it writes is never cut.

    With ``deliver`` (the default) a signal held during the block is raised as
    :class:`Interrupted` when the block ends (unless one was raised already);
    otherwise it stays held for :func:`deliver_held` or :func:`held_signal`.
    Outside :func:`handle_signals` the block installs it for its own duration.
    """
    if not _on_main_thread():
        yield
        return
    with handle_signals():
        _state.protected += 1
        try:
            yield
        finally:
            _state.protected -= 1
        if deliver:
            deliver_held()


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Inside a :func:`protected` block, let signals interrupt again for the duration of this
    block (a held one is raised as it starts). Whatever interrupts it surfaces inside the
    block's ``with`` statement, so a ``try`` around it always catches it, and once the block
    is over signals are held again: there is no moment between the work and the code that
    records its end where a signal could escape."""
    if not _on_main_thread() or not _state.installed:
        yield
        return
    saved, _state.protected = _state.protected, 0
    try:
        deliver_held()
        yield
    finally:
        _state.protected = saved


def held_signal() -> int | None:
    """The first signal held and not yet raised, if any."""
    if _state.raised or not _state.held:
        return None
    return _state.held[0]


def deliver_held() -> None:
    """Raise :class:`Interrupted` for a signal held by :func:`protected`, if one is waiting."""
    signum = held_signal()
    if signum is not None and not _state.protected:
        _state.held.clear()
        _state.raised = True
        raise Interrupted(signum)
