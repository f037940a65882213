"""fit / evaluate: modes, metrics, divergence guard, callbacks, penalties."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from reglab import L2, BatchIterator, Callback, DivergenceError, LambdaCallback, evaluate, fit
from reglab.core.errors import InvalidArgumentError


class ModeProbe(nn.Module):
    """Predicts class 0 in training mode and class 1 in eval mode, and records
    whether gradients were enabled in each mode."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.grad_enabled = {True: set(), False: set()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.grad_enabled[self.training].add(torch.is_grad_enabled())
        logits = torch.zeros(x.shape[0], 2)
        logits[:, 0 if self.training else 1] = 5.0
        return logits + 0.0 * self.w


def _ones_data(n: int = 20):
    return BatchIterator(torch.zeros(n, 3), torch.ones(n, dtype=torch.int64), batch_size=8, seed=0)


def test_fit_evaluates_in_eval_mode_without_grad_and_trains_in_train_mode():
    model = ModeProbe()
    data = _ones_data()
    history = fit(
        model,
        data,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=2,
        eval_sets={"test": _ones_data(), "val": _ones_data(5)},
        progress=False,
    )
    assert history.column("train_acc") == [0.0, 0.0]  # train mode: predicts 0, labels are 1
    assert history.column("test_acc") == [1.0, 1.0]  # eval mode: predicts 1
    assert history.column("val_acc") == [1.0, 1.0]
    assert model.grad_enabled == {True: {True}, False: {False}}
    assert history.columns == [
        "epoch",
        "train_loss",
        "train_acc",
        "test_loss",
        "test_acc",
        "val_loss",
        "val_acc",
        "seconds",
    ]


@pytest.mark.parametrize("mode", [True, False])
def test_evaluate_restores_the_previous_mode(mode):
    model = ModeProbe().train(mode)
    result = evaluate(model, _ones_data(), nn.CrossEntropyLoss(), prefix="test")
    assert result["test_acc"] == 1.0
    assert model.training is mode


def test_recorded_metrics_equal_a_direct_computation():
    torch.manual_seed(0)
    X, y = torch.randn(103, 5), torch.randint(0, 3, (103,))
    Xt, yt = torch.randn(41, 5), torch.randint(0, 3, (41,))
    model = nn.Linear(5, 3)
    # lr = 0: the weights never change, so every batch sees the same model.
    history = fit(
        model,
        BatchIterator(X, y, batch_size=10, seed=0),
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
        epochs=1,
        eval_sets={"test": BatchIterator(Xt, yt, batch_size=7, shuffle=False)},
        progress=False,
    )
    with torch.no_grad():
        expected_train = nn.functional.cross_entropy(model(X), y).item()
        expected_test = nn.functional.cross_entropy(model(Xt), yt).item()
        train_acc = (model(X).argmax(1) == y).double().mean().item()
        test_acc = (model(Xt).argmax(1) == yt).double().mean().item()
    row = history.last
    assert row["train_loss"] == pytest.approx(expected_train, rel=1e-6)
    assert row["test_loss"] == pytest.approx(expected_test, rel=1e-6)
    assert row["train_acc"] == pytest.approx(train_acc) and row["test_acc"] == pytest.approx(test_acc)


def test_per_sample_losses_are_averaged_like_d2l():
    torch.manual_seed(1)
    X, y = torch.randn(30, 4), torch.randint(0, 2, (30,))
    rows = []
    for reduction in ("mean", "none"):
        model = nn.Linear(4, 2)
        torch.nn.init.constant_(model.weight, 0.1)
        torch.nn.init.zeros_(model.bias)
        rows.append(
            fit(
                model,
                BatchIterator(X, y, batch_size=8, seed=0),
                loss_fn=nn.CrossEntropyLoss(reduction=reduction),
                optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
                epochs=2,
                progress=False,
            ).last
        )
    assert rows[0]["train_loss"] == pytest.approx(rows[1]["train_loss"], rel=1e-6)


def test_regression_has_no_accuracy():
    X = torch.randn(20, 2)
    history = fit(
        nn.Linear(2, 1),
        BatchIterator(X, X.sum(1, keepdim=True), batch_size=5, seed=0),
        loss_fn=nn.MSELoss(),
        optimizer=torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1),
        epochs=1,
        progress=False,
    )
    assert "train_acc" not in history.last and "train_loss" in history.last


def test_divergence_stops_with_the_epoch_and_keeps_history():
    epoch_seen = {"n": 0}
    mse = nn.MSELoss()

    def poisoned_loss(out, target):  # finite in epochs 1-2, NaN from epoch 3 on
        loss = mse(out, target)
        return loss * float("nan") if epoch_seen["n"] >= 2 else loss

    X = torch.randn(16, 2)
    model = nn.Linear(2, 1)
    ends = []
    with pytest.raises(DivergenceError) as info:
        fit(
            model,
            BatchIterator(X, X[:, :1], batch_size=4, seed=0),
            loss_fn=poisoned_loss,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
            epochs=10,
            progress=False,
            callbacks=[
                LambdaCallback(
                    on_epoch_end=lambda s, r: epoch_seen.__setitem__("n", s.epoch),
                    on_fit_end=lambda s: ends.append(s.stop_reason),
                )
            ],
        )
    error = info.value
    assert error.epoch == 3 and len(error.history) == 2
    assert "training diverged in epoch 3: the mean training loss is nan" in str(error)
    assert ends == ["diverged"]


def test_a_real_divergence_from_a_huge_learning_rate():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, 10, generator=g) * 10
    model = nn.Linear(10, 1)
    with pytest.raises(DivergenceError, match="training diverged in epoch"):
        fit(
            model,
            BatchIterator(X, X.sum(1, keepdim=True), batch_size=8, seed=0),
            loss_fn=nn.MSELoss(),
            optimizer=torch.optim.SGD(model.parameters(), lr=10.0),
            epochs=50,
            progress=False,
        )


class Recorder(Callback):
    def __init__(self, stop_at: int | None = None, interrupt_at: int | None = None) -> None:
        self.events: list[str] = []
        self.steps = 0
        self.stop_at, self.interrupt_at = stop_at, interrupt_at

    def on_fit_start(self, state):
        self.events.append("fit_start")

    def on_epoch_start(self, state):
        self.events.append(f"epoch_start {state.epoch}")

    def on_step_end(self, state):
        self.steps += 1

    def on_epoch_end(self, state, row):
        self.events.append(f"epoch_end {row['epoch']}")
        if state.epoch == self.interrupt_at:
            raise KeyboardInterrupt
        if state.epoch == self.stop_at:
            state.request_stop("enough")

    def on_fit_end(self, state):
        self.events.append(f"fit_end {state.stop_reason}")


def _tiny_fit(callbacks, epochs=5, progress=False, penalty=None):
    X = torch.randn(10, 2)
    model = nn.Linear(2, 1)
    return fit(
        model,
        BatchIterator(X, X[:, :1], batch_size=4, seed=0),
        loss_fn=nn.MSELoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
        epochs=epochs,
        callbacks=callbacks,
        progress=progress,
        penalty=penalty,
    )


def test_callback_hooks_order_steps_and_stop():
    rec = Recorder(stop_at=2)
    history = _tiny_fit([rec])
    assert rec.events == ["fit_start", "epoch_start 1", "epoch_end 1", "epoch_start 2", "epoch_end 2", "fit_end enough"]
    assert rec.steps == 2 * 3  # 10 samples in batches of 4: 3 steps per epoch
    assert len(history) == 2 and history.stop_reason == "enough"


def test_interrupt_reaches_callbacks_then_propagates():
    rec = Recorder(interrupt_at=2)
    with pytest.raises(KeyboardInterrupt):
        _tiny_fit([rec])
    assert rec.events[-1] == "fit_end interrupted"


def test_penalty_changes_the_update_but_not_the_recorded_loss():
    X = torch.randn(8, 3)
    y = torch.randn(8, 1)
    results = {}
    for name, penalty in (("none", None), ("sum", lambda m: 0.5 * m.weight.sum())):
        model = nn.Linear(3, 1)
        with torch.no_grad():
            model.weight.fill_(1.0)
            model.bias.zero_()
        rows = fit(
            model,
            BatchIterator(X, y, batch_size=8, shuffle=False),
            loss_fn=nn.MSELoss(),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=1,
            penalty=penalty,
            progress=False,
        )
        results[name] = (model.weight.detach().clone(), rows.last["train_loss"])
    # d/dw of 0.5 * sum(w) is 0.5 per weight: one step of lr 0.1 moves each weight 0.05 further.
    torch.testing.assert_close(results["sum"][0], results["none"][0] - 0.05)
    assert results["sum"][1] == pytest.approx(results["none"][1])


def test_bad_arguments():
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = BatchIterator(torch.randn(4, 2), torch.randn(4, 1), batch_size=2)
    with pytest.raises(InvalidArgumentError, match="argument `epochs`"):
        fit(model, data, loss_fn=nn.MSELoss(), optimizer=opt, epochs=0)
    with pytest.raises(InvalidArgumentError, match="argument `eval_sets`"):
        fit(model, data, loss_fn=nn.MSELoss(), optimizer=opt, epochs=1, eval_sets={"train": data})
    with pytest.raises(InvalidArgumentError, match="argument `device`"):
        fit(model, data, loss_fn=nn.MSELoss(), optimizer=opt, epochs=1, device="tpu")


def test_no_progress_output_when_disabled(capsys):
    _tiny_fit([], epochs=1)
    assert capsys.readouterr().err == ""


def test_the_penalty_term_is_recorded_as_its_epoch_mean_next_to_the_data_loss():
    # lr 0 keeps the weights fixed, so every batch's penalty is lam/2 * ||W||^2 (biases undecayed).
    X, y = torch.randn(10, 3), torch.randint(0, 2, (10,))
    model = nn.Linear(3, 2)
    expected = 0.5 * 0.3 * model.weight.detach().double().pow(2).sum().item()
    history = fit(
        model,
        BatchIterator(X, y, batch_size=4, seed=0),  # batches of 4, 4 and 2: a sample-weighted mean
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
        epochs=2,
        eval_sets={"test": BatchIterator(X, y, batch_size=10, shuffle=False)},
        penalty=L2(0.3),
        progress=False,
    )
    assert history.columns == ["epoch", "train_loss", "train_acc", "train_penalty", "test_loss", "test_acc", "seconds"]
    assert history.column("train_penalty") == pytest.approx([expected, expected], rel=1e-6)
    assert history.last["train_loss"] == pytest.approx(history.last["test_loss"], rel=1e-6)  # the data loss alone


def test_a_penalty_returning_a_python_number_is_recorded_too():
    history = _tiny_fit([], epochs=1, penalty=lambda m: 0.25)
    assert history.last["train_penalty"] == pytest.approx(0.25)
    assert "train_penalty" not in _tiny_fit([], epochs=1).last


def test_progress_bars_show_on_request_and_stay_out_of_a_pipe(capsys):
    _tiny_fit([], epochs=1, progress=None)  # pytest's captured stderr is no terminal and no notebook
    assert capsys.readouterr().err == ""
    _tiny_fit([], epochs=1, progress=True)
    assert "epoch 1/1" in capsys.readouterr().err


def _linear_fit(train, *, eval_sets=None, epochs=2, penalty=None):
    model = nn.Linear(3, 2)
    return fit(
        model,
        train,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=epochs,
        eval_sets=eval_sets,
        penalty=penalty,
        progress=False,
    )


def test_an_epoch_without_a_batch_is_refused_not_reported_as_loss_0():
    x, y = torch.zeros(4, 3), torch.zeros(4, dtype=torch.int64)
    with pytest.raises(
        InvalidArgumentError, match=r"argument `train`.*Received: train=<list with no batch in epoch 1>"
    ):
        _linear_fit([])
    one_shot = ((x[i : i + 2], y[i : i + 2]) for i in (0, 2))  # a generator is exhausted after one pass
    with pytest.raises(InvalidArgumentError, match=r"Received: train=<generator with no batch in epoch 2>"):
        _linear_fit(one_shot)
    with pytest.raises(InvalidArgumentError, match=r"argument `eval_sets\['test'\]`.*no batch after epoch 1"):
        _linear_fit([(x, y)], eval_sets={"test": []})
    with pytest.raises(InvalidArgumentError, match=r"argument `batches`"):
        evaluate(nn.Linear(3, 2), [], nn.CrossEntropyLoss())


def test_a_non_finite_penalty_stops_training_with_the_epoch_named():
    x, y = torch.randn(8, 3), torch.zeros(8, dtype=torch.int64)
    calls = {"n": 0}

    def penalty(model):
        calls["n"] += 1
        return torch.tensor(math.inf if calls["n"] > 2 else 0.0)  # two batches per epoch: epoch 2 goes bad

    with pytest.raises(DivergenceError, match="training diverged in epoch 2: the mean penalty is inf") as info:
        _linear_fit([(x[:4], y[:4]), (x[4:], y[4:])], epochs=3, penalty=penalty)
    assert info.value.epoch == 2 and len(info.value.history) == 1
