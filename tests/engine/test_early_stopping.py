"""EarlyStopping: decisions on metric sequences, reasons, resume, the fit callback restoring the best weights."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from reglab import BatchIterator, LambdaCallback, fit
from reglab.core.errors import InvalidArgumentError
from reglab.engine.early_stopping import EarlyStopping

NAN = float("nan")


def _run(es: EarlyStopping, values: list[float]) -> int | None:
    """Feed values until a stop; return the 1-based epoch of the stop (None if never)."""
    for epoch, value in enumerate(values, start=1):
        stop, _ = es.step(value)
        if stop:
            return epoch
    return None


@pytest.mark.parametrize(
    "values, kwargs, stop_epoch, best_epoch",
    [
        ([1.0, 0.9, 0.8, 0.85, 0.86, 0.87], dict(patience=3), 6, 3),
        ([1.0, 0.9, 0.8, 0.85, 0.79, 0.87, 0.9], dict(patience=3), None, 5),  # an improvement resets the wait
        ([1.0, 1.0, 0.5], dict(patience=1), 2, 1),  # equal is not better
        ([1.0, 0.95, 0.92, 0.91], dict(patience=2, min_delta=0.04), 4, 2),  # 0.92, 0.91 within min_delta of 0.95
        ([1.0, 0.9], dict(patience=0), None, 2),
        ([1.0, 1.1], dict(patience=0), 2, 1),  # patience 0: the first miss stops
        ([0.1, 0.5, 0.4, 0.3], dict(mode="max", patience=2), 4, 2),
        ([1.0, NAN, NAN], dict(patience=2), 3, 1),  # NaN never improves
        ([NAN, NAN], dict(patience=2), 2, None),
        ([1.0, math.inf, 0.5], dict(patience=2), None, 3),
    ],
)
def test_stopping_epoch_on_metric_sequences(values, kwargs, stop_epoch, best_epoch):
    es = EarlyStopping(**kwargs)
    assert _run(es, values) == stop_epoch
    assert es.stopped_epoch == stop_epoch
    assert es.best_epoch == best_epoch
    if best_epoch is not None:
        assert es.best_value == values[best_epoch - 1]


def test_reasons_name_the_monitor_best_value_and_wait():
    es = EarlyStopping(monitor="val_acc", mode="max", patience=2, min_delta=0.01)
    assert es.step(0.5) == (False, "val_acc improved to 0.5 at epoch 1")
    assert es.step(0.7) == (False, "val_acc improved from 0.5 to 0.7 at epoch 2")
    assert es.step(0.705) == (
        False,
        "val_acc did not improve for 1 epoch (0.705 at epoch 3; best 0.7 at epoch 2; patience 2)",
    )
    stop, reason = es.step(0.6)
    assert stop and reason == (
        "early stopping at epoch 4: val_acc did not improve for 2 epochs (best 0.7 at epoch "
        "2; patience 2, min_delta 0.01, mode max)"
    )
    assert es.reason == reason
    es = EarlyStopping(patience=1)
    assert es.step(NAN)[1].endswith("(no valid value yet; patience 1, min_delta 0, mode min)")


def test_resume_from_state_dict_gives_the_same_decisions():
    values = [1.0, 0.8, 0.9, 0.7, 0.75, 0.74, 0.72, 0.71, 0.8, 0.9, 0.95]
    reference = EarlyStopping(patience=3, min_delta=0.005)
    expected = [reference.step(v) for v in values]
    for cut in range(len(values) + 1):
        first = EarlyStopping(patience=3, min_delta=0.005)
        got = [first.step(v) for v in values[:cut]]
        saved = copy.deepcopy(first.state_dict())
        second = EarlyStopping(patience=3, min_delta=0.005)
        second.load_state_dict(saved)
        got += [second.step(v) for v in values[cut:]]
        assert got == expected, cut
        assert second.state_dict() == reference.state_dict()
    # what a fresh object would decide differs: the state really carries the history
    fresh = EarlyStopping(patience=3, min_delta=0.005)
    assert [fresh.step(v) for v in values[5:]] != expected[5:]


def test_load_state_dict_refuses_another_monitor():
    saved = EarlyStopping(monitor="val_loss").state_dict()
    with pytest.raises(
        InvalidArgumentError,
        match=r"argument `state`. Expected the state of an EarlyStopping on 'val_acc' in mode 'max'",
    ):
        EarlyStopping(monitor="val_acc", mode="max").load_state_dict(saved)
    with pytest.raises(InvalidArgumentError, match="argument `state`"):
        EarlyStopping().load_state_dict({"monitor": "val_loss"})


def test_reset_and_config():
    es = EarlyStopping(patience=1)
    _run(es, [1.0, 2.0])
    assert es.stopped_epoch == 2
    es.reset()
    assert es.stopped_epoch is None and es.best_epoch is None and es.wait == 0 and es.best_value == math.inf
    assert EarlyStopping(**es.get_config()).get_config() == es.get_config()
    assert repr(EarlyStopping()) == (
        "EarlyStopping(monitor='val_loss', mode='min', patience=5, min_delta=0.0, restore_best=True)"
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(mode="minimum"),
            "Invalid value received for argument `mode`. Expected one of 'min', 'max'. Received: mode='minimum'",
        ),
        (dict(patience=-1), "argument `patience`. Expected an integer >= 0. Received: patience=-1"),
        (dict(patience=2.0), "argument `patience`"),
        (dict(min_delta=-0.1), "argument `min_delta`. Expected a float >= 0"),
        (dict(restore_best="yes"), "argument `restore_best`. Expected True or False"),
        (dict(monitor=""), "argument `monitor`"),
    ],
)
def test_bad_arguments_get_the_one_sentence(kwargs, message):
    with pytest.raises(InvalidArgumentError) as info:
        EarlyStopping(**kwargs)
    assert message in str(info.value)


def _drifting_problem():
    """Linear regression whose validation target sits halfway along the training path:
    the validation loss falls, then rises, so early stopping has a real best epoch."""
    g = torch.Generator().manual_seed(0)
    w1 = torch.tensor([[2.0, -3.0, 1.0]])
    X = torch.randn(64, 3, generator=g)
    Xv = torch.randn(64, 3, generator=g)
    train = BatchIterator(X, X @ w1.T, batch_size=16, shuffle=False)  # a resumed run sees the same batches
    val = BatchIterator(Xv, Xv @ (0.5 * w1).T, batch_size=64, shuffle=False)
    return train, val


def _train(callbacks, epochs=40):
    train, val = _drifting_problem()
    torch.manual_seed(0)
    model = nn.Linear(3, 1, bias=False)
    nn.init.zeros_(model.weight)
    snapshots = []
    record = LambdaCallback(on_epoch_end=lambda state, row: snapshots.append(copy.deepcopy(state.model.state_dict())))
    history = fit(
        model,
        train,
        loss_fn=nn.functional.mse_loss,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.02),
        epochs=epochs,
        eval_sets={"val": val},
        callbacks=[record, *callbacks],
        progress=False,
    )
    return model, history, snapshots


def test_fit_stops_and_restores_the_best_epochs_weights():
    es = EarlyStopping(monitor="val_loss", patience=3)
    model, history, snapshots = _train([es])
    val = history.column("val_loss")
    best = min(range(len(val)), key=val.__getitem__) + 1
    assert 1 < best < 40 - 3  # the curve really turns
    assert len(history) == best + 3 == es.stopped_epoch  # stopped after `patience` epochs without improvement
    assert es.best_epoch == best and es.best_value == val[best - 1] and es.restored_epoch == best
    assert history.stop_reason == es.reason and history.stop_reason.startswith(f"early stopping at epoch {best + 3}")
    assert torch.equal(model.weight, snapshots[best - 1]["weight"])
    assert not torch.equal(model.weight, snapshots[-1]["weight"])


def test_fit_without_restore_keeps_the_last_weights():
    es = EarlyStopping(monitor="val_loss", patience=3, restore_best=False)
    model, _history, snapshots = _train([es])
    assert es.best_weights is None and es.restored_epoch is None
    assert torch.equal(model.weight, snapshots[-1]["weight"])


def test_resumed_fit_continues_the_same_decisions():
    es = EarlyStopping(monitor="val_loss", patience=3)
    _, _full, _ = _train([es])
    first = EarlyStopping(monitor="val_loss", patience=3)
    model, _part, _ = _train([first], epochs=5)
    second = EarlyStopping(monitor="val_loss", patience=3)
    second.load_state_dict(first.state_dict())
    # a second fit continuing the same model and data; the epoch count continues
    train, val = _drifting_problem()
    fit(
        model,
        train,
        loss_fn=nn.functional.mse_loss,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.02),
        epochs=40,
        eval_sets={"val": val},
        callbacks=[second],
        progress=False,
    )
    assert (second.best_epoch, second.stopped_epoch) == (es.best_epoch, es.stopped_epoch)
    assert second.best_value == es.best_value


def test_a_missing_monitor_lists_the_available_metrics():
    es = EarlyStopping(monitor="valid_loss")
    with pytest.raises(InvalidArgumentError) as info:
        _train([es], epochs=2)
    assert str(info.value) == (
        "Invalid value received for argument `monitor`. Expected one of this epoch's metrics "
        "('train_loss', 'val_loss', 'seconds'). Received: monitor='valid_loss'"
    )
