"""run_epochs: the guarantees fit shares with hand-written training loops."""

from __future__ import annotations

import math

import pytest
import torch

from reglab import DivergenceError, LambdaCallback
from reglab.engine.epochs import EpochResult, RunningMean, run_epochs, tensor_module

CPU = torch.device("cpu")


def _run(results, callbacks=(), **kwargs):
    w = torch.zeros(2, requires_grad=True)
    return run_epochs(
        lambda state: results[state.epoch - 1],
        model=tensor_module(w=w),
        optimizer=None,
        epochs=len(results),
        device=CPU,
        callbacks=callbacks,
        **kwargs,
    )


def test_rows_reach_the_callbacks_as_each_epoch_ends_and_silent_epochs_record_nothing():
    seen = []
    history = _run(
        [EpochResult(1.0, row={"test_loss": 3.0}), EpochResult(0.5), EpochResult(0.25, row={"test_loss": 2.0})],
        callbacks=[LambdaCallback(on_epoch_end=lambda state, row: seen.append((state.epoch, dict(row))))],
        initial={"test_loss": 4.0},
    )
    assert seen == [
        (0, {"epoch": 0, "test_loss": 4.0}),
        (1, {"epoch": 1, "test_loss": 3.0}),
        (3, {"epoch": 3, "test_loss": 2.0}),
    ]
    assert history.rows == [row for _, row in seen]


@pytest.mark.parametrize(
    "bad, message",
    [
        (EpochResult(math.nan, row={}), "training diverged in epoch 2: the mean training loss is nan"),
        (EpochResult(0.1, penalty=math.inf, row={}), "training diverged in epoch 2: the mean penalty is inf"),
    ],
)
def test_a_non_finite_loss_or_penalty_stops_with_the_epoch_named(bad, message):
    ends = []
    with pytest.raises(DivergenceError, match=message) as info:
        _run(
            [EpochResult(1.0, row={"a": 1.0}), bad, EpochResult(0.5, row={})],
            callbacks=[LambdaCallback(on_fit_end=lambda state: ends.append(state.stop_reason))],
        )
    assert info.value.epoch == 2 and [r["epoch"] for r in info.value.history.rows] == [1]
    assert ends == ["diverged"]


def test_an_interrupt_reaches_on_fit_end_and_propagates():
    ends = []

    def epoch(state):
        if state.epoch == 2:
            raise KeyboardInterrupt
        return EpochResult(1.0, row={})

    with pytest.raises(KeyboardInterrupt):
        run_epochs(
            epoch,
            model=tensor_module(),
            optimizer=None,
            epochs=3,
            device=CPU,
            callbacks=[LambdaCallback(on_fit_end=lambda state: ends.append(state.stop_reason))],
        )
    assert ends == ["interrupted"]


def test_a_stop_request_ends_a_hand_written_loop_too():
    stopper = LambdaCallback(on_epoch_end=lambda state, row: state.request_stop("enough"))
    history = _run([EpochResult(1.0, row={}), EpochResult(1.0, row={})], callbacks=[stopper])
    assert len(history) == 1 and history.stop_reason == "enough"


def test_running_mean_weights_and_tensor_module_shares_its_tensors():
    mean = RunningMean()
    assert math.isnan(mean.mean())
    mean.add(torch.tensor(1.0), 3)
    mean.add(2.0, 1)
    assert mean.mean() == pytest.approx(1.25) and mean.count == 4
    w = torch.ones(2, requires_grad=True)
    module = tensor_module(w=w)
    module.load_state_dict({"w": torch.full((2,), 5.0)})
    assert w.tolist() == [5.0, 5.0]  # restored in place: what early stopping's restore needs
