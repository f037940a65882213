"""Activity regularization: Keras's activity penalty, its layer and collector with fit, fastai's AR and TAR."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from reglab import BatchIterator, fit
from reglab.core.errors import InvalidArgumentError
from reglab.regularizers.activity import (
    ActivityRegularization,
    activation_regularization,
    activity_penalty,
    collect_activity_penalties,
    temporal_activation_regularization,
)
from tests.helpers import needs_cuda


def _x(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)


def _grad(value: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    (g,) = torch.autograd.grad(value, x)
    return g


# -- Keras's activity penalty ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3, 3), (7,)])
@pytest.mark.parametrize("l1, l2", [(0.3, 0.0), (0.0, 0.7), (0.3, 0.7), (0.0, 0.0)])
def test_activity_penalty_is_keras_l1l2_over_the_batch_size(shape, l1, l2):
    x = _x(*shape)
    n = shape[0]
    expected = (l1 * x.abs().sum() + l2 * (x**2).sum()) / n  # Keras L1L2, divided by the batch (no 1/2 on l2)
    got = activity_penalty(x, l1, l2)
    assert got.dim() == 0 and got.dtype == torch.float64
    torch.testing.assert_close(got, expected.detach(), rtol=1e-14, atol=0)
    if l1 or l2:
        torch.testing.assert_close(
            _grad(got, x), (l1 * torch.sign(x) + 2 * l2 * x).detach() / n, rtol=1e-14, atol=1e-17
        )


def test_activity_penalty_keras_docs_example():
    # keras/src/regularizers/regularizers.py: L2(0.01) on a (5, 5) output of 10s -> 0.01 * 25 * 100 / 5 = 5.0
    assert activity_penalty(torch.full((5, 5), 10.0, dtype=torch.float64), l2=0.01).item() == pytest.approx(5.0)


def test_activity_penalty_of_an_empty_batch_is_zero():
    out = activity_penalty(torch.zeros(0, 3), 0.1, 0.1)
    assert out.item() == 0.0


def test_half_activations_are_reduced_in_float32():
    x = torch.full((2, 4096), 8.0, dtype=torch.float16)  # sum(x**2) = 524288 overflows float16
    out = activity_penalty(x, l2=1.0)
    assert out.dtype == torch.float32 and out.item() == 4096 * 64.0
    assert activation_regularization(x, 1.0).dtype == torch.float32


# -- the layer and the collector -------------------------------------------------------------------------------------


def test_layer_returns_its_input_object_and_records_the_penalty_in_training():
    layer = ActivityRegularization(l1=0.2, l2=0.5)
    x = _x(6, 4)
    assert layer(x) is x
    torch.testing.assert_close(layer.penalty, (0.2 * x.abs().sum() + 0.5 * (x**2).sum()) / 6, rtol=1e-14, atol=0)
    assert layer.penalty.requires_grad


def test_eval_mode_records_nothing():
    layer = ActivityRegularization(l1=0.2, l2=0.5).eval()
    x = _x(6, 4)
    assert layer(x) is x
    assert layer.penalty is None
    out = collect_activity_penalties(layer)
    assert out.item() == 0.0


def test_several_calls_accumulate_until_collected():
    shared = ActivityRegularization(l2=0.5)
    model = nn.Sequential(nn.Linear(3, 3), shared, nn.Tanh(), shared).double()  # the same layer twice
    x = _x(4, 3)
    h1 = model[0](x)
    h2 = torch.tanh(h1)
    model(x)
    expected = 0.5 * ((h1**2).sum() + (h2**2).sum()) / 4
    torch.testing.assert_close(shared.penalty, expected, rtol=1e-14, atol=0)
    # a second forward before collecting adds to the total
    model(x)
    torch.testing.assert_close(collect_activity_penalties(model), 2 * expected, rtol=1e-14, atol=0)
    assert shared.penalty is None


def test_collector_sums_every_layer_and_clears():
    a, b = ActivityRegularization(l1=0.1), ActivityRegularization(l2=0.3)
    model = nn.Sequential(nn.Linear(3, 5), a, nn.ReLU(), nn.Linear(5, 2), b).double()
    x = _x(7, 3)
    model(x)
    h = model[0](x)
    o = model[3](torch.relu(h))
    expected = 0.1 * h.abs().sum() / 7 + 0.3 * (o**2).sum() / 7
    got = collect_activity_penalties(model)
    torch.testing.assert_close(got, expected, rtol=1e-14, atol=0)
    w = model[0].weight
    torch.testing.assert_close(_grad(got, w), _grad(expected, w), rtol=1e-13, atol=1e-16)
    assert a.penalty is None and b.penalty is None
    again = collect_activity_penalties(model)
    assert again.item() == 0.0 and again.dtype == torch.float64


def test_collector_zero_follows_the_model():
    assert collect_activity_penalties(nn.Linear(2, 2).double()).dtype == torch.float64
    empty = collect_activity_penalties(nn.Sequential(ActivityRegularization()))
    assert empty.dim() == 0 and empty.dtype == torch.float32 and empty.device.type == "cpu"


@needs_cuda
def test_collector_on_cuda():
    model = nn.Sequential(nn.Linear(3, 3), ActivityRegularization(l2=1.0)).cuda()
    assert collect_activity_penalties(model).device.type == "cuda"  # nothing recorded: the model's device
    model(torch.randn(4, 3, device="cuda"))
    out = collect_activity_penalties(model)
    assert out.device.type == "cuda" and out.dim() == 0


def test_config_round_trip_and_repr():
    layer = ActivityRegularization(l1=0.25, l2=1)
    assert layer.get_config() == {"l1": 0.25, "l2": 1.0}
    assert ActivityRegularization.from_config(layer.get_config()).get_config() == layer.get_config()
    assert repr(layer) == "ActivityRegularization(l1=0.25, l2=1.0)"


def test_fit_adds_the_collected_penalty_to_the_loss_but_records_the_data_loss():
    g = torch.Generator().manual_seed(5)
    X = torch.randn(8, 3, generator=g, dtype=torch.float64)
    y = torch.randn(8, 1, generator=g, dtype=torch.float64)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), ActivityRegularization(l1=0.1, l2=0.2), nn.Tanh(), nn.Linear(4, 1))
    model.double()
    by_hand = copy.deepcopy(model)

    # one step by hand: data loss + (0.1 * sum|h| + 0.2 * sum h**2) / N, with h the first Linear's output
    h = by_hand[0](X)
    data_loss = nn.functional.mse_loss(by_hand[3](torch.tanh(h)), y)
    penalty = (0.1 * h.abs().sum() + 0.2 * (h * h).sum()) / 8
    penalty_only = torch.autograd.grad(penalty, by_hand[0].weight, retain_graph=True)[0]
    (data_loss + penalty).backward()
    assert penalty_only.abs().max() > 1e-3  # the penalty visibly moves the gradient

    history = fit(
        model,
        BatchIterator(X, y, batch_size=8, shuffle=False),
        loss_fn=nn.MSELoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=1,
        device="cpu",
        eval_sets={"test": BatchIterator(X, y, batch_size=8, shuffle=False)},
        penalty=collect_activity_penalties,
        progress=False,
    )
    for mine, theirs in zip(model.parameters(), by_hand.parameters()):
        torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-13, atol=1e-15)
    assert history.last["train_loss"] == pytest.approx(data_loss.item(), rel=1e-13)
    assert model[1].penalty is None  # collected by the step; the evaluation recorded nothing


# -- fastai's AR and TAR ---------------------------------------------------------------------------------------------


def _ar_loop(x: torch.Tensor, alpha: float) -> torch.Tensor:
    total, count = 0.0, 0
    for value in x.reshape(-1):
        total = total + value * value
        count += 1
    return alpha * total / count


def _tar_loop(h: torch.Tensor, beta: float, time_dim: int) -> torch.Tensor:
    h = h.movedim(time_dim, 0)  # (T, rest...)
    total, count = 0.0, 0
    for t in range(h.shape[0] - 1):
        for a, b in zip(h[t + 1].reshape(-1), h[t].reshape(-1)):
            total = total + (a - b) ** 2
            count += 1
    return beta * total / count


@pytest.mark.parametrize("shape", [(3, 5, 4), (2, 7)])
def test_ar_is_alpha_times_the_mean_square(shape):
    x = _x(*shape, seed=1)
    got, expected = activation_regularization(x, 0.7), _ar_loop(x, 0.7)
    torch.testing.assert_close(got, expected, rtol=1e-14, atol=0)
    torch.testing.assert_close(_grad(got, x), _grad(expected, x), rtol=1e-14, atol=0)
    torch.testing.assert_close(
        _grad(activation_regularization(x, 0.7), x), (2 * 0.7 * x / x.numel()).detach(), rtol=1e-14, atol=0
    )


@pytest.mark.parametrize("shape, time_dim", [((3, 5, 4), 1), ((5, 3, 4), 0), ((3, 4, 5), -1), ((2, 6), 1)])
def test_tar_is_beta_times_the_mean_square_step(shape, time_dim):
    h = _x(*shape, seed=2)
    got, expected = temporal_activation_regularization(h, 1.3, time_dim=time_dim), _tar_loop(h, 1.3, time_dim)
    torch.testing.assert_close(got, expected, rtol=1e-14, atol=0)
    torch.testing.assert_close(_grad(got, h), _grad(expected, h), rtol=1e-13, atol=1e-16)


def test_tar_matches_fastai_batch_first_by_default():
    h = _x(3, 5, 4, seed=3)
    fastai = 0.5 * (h[:, 1:] - h[:, :-1]).pow(2).mean()  # fastai/callback/rnn.py, RNNRegularizer.after_loss
    torch.testing.assert_close(temporal_activation_regularization(h, 0.5), fastai, rtol=0, atol=0)


def test_tar_with_one_time_step_is_zero():
    assert temporal_activation_regularization(_x(4, 1, 3), 2.0).item() == 0.0
    assert temporal_activation_regularization(_x(1, 4, 3), 2.0, time_dim=0).item() == 0.0


# -- bad arguments ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: ActivityRegularization(l1=-0.1),
            "Invalid value received for argument `l1`. Expected a float >= 0. Received: l1=-0.1",
        ),
        (
            lambda: ActivityRegularization(l2=float("nan")),
            "Invalid value received for argument `l2`. Expected a float >= 0. Received: l2=nan",
        ),
        (lambda: ActivityRegularization(l1=True), "argument `l1`. Expected a float >= 0. Received: l1=True"),
        (lambda: ActivityRegularization(l2="0.1"), "argument `l2`. Expected a float >= 0. Received: l2='0.1'"),
        (lambda: ActivityRegularization(l2=float("inf")), "argument `l2`. Expected a float >= 0. Received: l2=inf"),
        (lambda: activity_penalty(torch.ones(2), l1=-1), "Received: l1=-1"),
        (
            lambda: activity_penalty(torch.tensor(1.0), l1=0.1),
            "Invalid value received for argument `x`. Expected a floating-point tensor with a batch dimension (N, *). "
            "Received: x=<0-D torch.float32 tensor of shape ()>",
        ),
        (
            lambda: activity_penalty(torch.ones(2, 3, dtype=torch.int64), l2=0.1),
            "Received: x=<2-D torch.int64 tensor of shape (2, 3)>",
        ),
        (lambda: activity_penalty([1.0, 2.0], l2=0.1), "argument `x`. Expected a floating-point tensor"),
        (lambda: ActivityRegularization(l2=0.1)(torch.ones(3, dtype=torch.int32)), "argument `x`"),
        (lambda: collect_activity_penalties([ActivityRegularization()]), "argument `model`. Expected an nn.Module"),
        (
            lambda: activation_regularization(torch.ones(2, 3), -0.5),
            "Invalid value received for argument `alpha`. Expected a float >= 0. Received: alpha=-0.5",
        ),
        (lambda: activation_regularization(torch.ones(2, 3), False), "Received: alpha=False"),
        (
            lambda: temporal_activation_regularization(torch.ones(2, 3), float("nan")),
            "Invalid value received for argument `beta`. Expected a float >= 0. Received: beta=nan",
        ),
        (
            lambda: temporal_activation_regularization(torch.ones(4), 0.1),
            "Invalid value received for argument `h`. Expected a floating-point tensor with batch and time dimensions, "
            "e.g. (N, T, H). Received: h=<1-D torch.float32 tensor of shape (4,)>",
        ),
        (
            lambda: temporal_activation_regularization(torch.ones(2, 3, 4), 0.1, time_dim=3),
            "Invalid value received for argument `time_dim`. Expected an integer between -3 and 2. Received: time_dim=3",
        ),
        (lambda: temporal_activation_regularization(torch.ones(2, 3, 4), 0.1, time_dim=-4), "Received: time_dim=-4"),
        (
            lambda: temporal_activation_regularization(torch.ones(2, 3, 4), 0.1, time_dim=True),
            "Received: time_dim=True",
        ),
        (lambda: temporal_activation_regularization(torch.ones(2, 3, 4), 0.1, time_dim=1.0), "Received: time_dim=1.0"),
    ],
)
def test_bad_arguments_get_the_one_sentence(call, message):
    with pytest.raises(InvalidArgumentError) as info:
        call()
    assert message in str(info.value)


def test_public_names_are_exported_from_reglab():
    import reglab
    from reglab import activity

    for name in activity.__all__:
        assert name in reglab.__all__ and getattr(reglab, name) is getattr(activity, name)
