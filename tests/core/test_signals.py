"""Ctrl-C and SIGTERM as one interruption; final writes that a burst of signals cannot cut.

The signals are real: the test process sends them to itself (the handlers run
on the main thread, where pytest runs the tests).
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from reglab.core.signals import Interrupted, deliver_held, handle_signals, held_signal, protected


def _send(sig: int) -> None:
    os.kill(os.getpid(), sig)
    time.sleep(0.01)  # the handler runs here at the latest


def test_sigterm_is_an_interruption_with_exit_code_143():
    with pytest.raises(Interrupted) as info, handle_signals():
        _send(signal.SIGTERM)
    assert isinstance(info.value, KeyboardInterrupt)
    assert info.value.signum == signal.SIGTERM and info.value.exit_code == 143
    assert str(info.value) == "SIGTERM"


def test_the_previous_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with handle_signals():
        assert signal.getsignal(signal.SIGTERM) is not before[0]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_only_the_first_signal_is_raised_the_rest_of_a_burst_is_held(capfd):
    with handle_signals() as log:
        try:
            _send(signal.SIGINT)
        except Interrupted:
            for _ in range(10):  # the cleanup of the interruption is not cut
                _send(signal.SIGINT)
            _send(signal.SIGTERM)
    assert log.received == [signal.SIGINT] * 11 + [signal.SIGTERM]
    assert "still saving what finished" in capfd.readouterr().err


def test_a_protected_block_is_never_cut_and_raises_at_its_end():
    written = []
    with pytest.raises(Interrupted) as info, handle_signals(), protected():
        _send(signal.SIGINT)
        written.append("summary.json")  # runs although the signal came first
    assert written == ["summary.json"] and info.value.signum == signal.SIGINT


def test_a_held_signal_can_be_delivered_later():
    with handle_signals():
        with protected(deliver=False):
            _send(signal.SIGTERM)
        assert held_signal() == signal.SIGTERM
        with pytest.raises(Interrupted):
            deliver_held()
        assert held_signal() is None


def test_protected_works_without_handle_signals_around_it():
    with pytest.raises(Interrupted), protected():
        _send(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
