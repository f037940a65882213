"""The callback state protocol: stateless by default, EarlyStopping round-trips through it."""

from __future__ import annotations

import pytest

from reglab.core.errors import InvalidArgumentError
from reglab.engine.callbacks import Callback, EpochTable, LambdaCallback
from reglab.engine.early_stopping import EarlyStopping


@pytest.mark.parametrize("callback", [Callback(), EpochTable(), LambdaCallback()])
def test_callbacks_are_stateless_by_default(callback):
    assert callback.state_dict() is None
    with pytest.raises(InvalidArgumentError, match="keeps no state"):
        callback.load_state_dict({"anything": 1})


def test_early_stopping_state_travels_through_the_protocol():
    first: Callback = EarlyStopping(patience=2)
    for value in (1.0, 0.5, 0.7):
        first.step(value)  # type: ignore[attr-defined]
    state = first.state_dict()
    assert state is not None and state["best_value"] == 0.5 and state["wait"] == 1
    second: Callback = EarlyStopping(patience=2)
    second.load_state_dict(state)
    assert second.step(0.8) == first.step(0.8) == (True, second.reason)  # type: ignore[attr-defined]
