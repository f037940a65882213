"""Constraints: closed forms (torch.renorm), untouched units, axes, the fit callback."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reglab import BatchIterator, fit
from reglab.core.errors import InvalidArgumentError
from reglab.engine.callbacks import ApplyConstraint
from reglab.regularizers.constraints import Constraint, MaxNorm, NonNeg, UnitNorm
from tests.helpers import needs_cuda

_EPS64 = torch.finfo(torch.float64).eps


def _rows_with_norms(norms: list[float], width: int = 5) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    w = torch.randn(len(norms), width, generator=g, dtype=torch.float64)
    return w / w.norm(dim=1, keepdim=True) * torch.tensor(norms, dtype=torch.float64)[:, None]


def test_maxnorm_equals_torch_renorm_and_leaves_small_rows_untouched():
    w = _rows_with_norms([0.5, 2.9, 3.0, 3.1, 10.0, 0.0])
    before = w.clone()
    out = MaxNorm(3.0)(w)
    assert out is w  # in place
    torch.testing.assert_close(w, torch.renorm(before, 2, 0, 3.0), rtol=0, atol=0)
    under = before.norm(dim=1) <= 3.0
    assert under.tolist()[:2] == [True, True] and torch.equal(w[under], before[under])  # bit for bit
    norms = w.norm(dim=1)
    assert bool((norms <= 3.0 + 1e-12).all())
    torch.testing.assert_close(norms[[3, 4]], torch.tensor([3.0, 3.0], dtype=torch.float64), rtol=1e-7, atol=0)


def test_maxnorm_is_per_output_channel_for_convolutions():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64) * 2
    expected = torch.renorm(w, 2, 0, 1.5)
    MaxNorm(1.5)(w)
    # the norm's summation order may differ from renorm's: a few float64 ulps
    torch.testing.assert_close(w, expected, rtol=4 * _EPS64, atol=0)
    assert bool((w.flatten(1).norm(dim=1) <= 1.5 + 1e-12).all())


def test_axis_selects_the_norm_dimensions():
    g = torch.Generator().manual_seed(2)
    w = torch.randn(3, 6, generator=g, dtype=torch.float64) * 3
    # axis=0: one norm per column, i.e. torch.renorm over dim 1
    expected = torch.renorm(w, 2, 1, 1.0)
    MaxNorm(1.0, axis=0)(w)
    torch.testing.assert_close(w, expected, rtol=4 * _EPS64, atol=0)
    # axis=(0, 1): the whole matrix is one unit
    v = torch.randn(3, 6, generator=g, dtype=torch.float64)
    UnitNorm(axis=(0, -1))(v)
    torch.testing.assert_close(v.norm(), torch.tensor(1.0, dtype=torch.float64), rtol=1e-15, atol=0)
    # a 1-D tensor is one vector by default
    b = torch.tensor([3.0, 4.0], dtype=torch.float64)
    MaxNorm(1.0)(b)
    torch.testing.assert_close(b, torch.tensor([0.6, 0.8], dtype=torch.float64), rtol=1e-6, atol=0)


def test_unitnorm_gives_unit_rows_and_keeps_zero_rows():
    w = _rows_with_norms([0.1, 1.0, 7.0, 0.0])
    direction = w[:3] / w[:3].norm(dim=1, keepdim=True)
    UnitNorm()(w)
    torch.testing.assert_close(w[:3], direction, rtol=1e-15, atol=0)
    assert torch.equal(w[3], torch.zeros(5, dtype=torch.float64))


def test_nonneg_clamps_negatives_only():
    w = torch.tensor([[-1.0, 0.0, 2.0], [3.0, -0.5, 1e-30]])
    NonNeg()(w)
    assert torch.equal(w, torch.tensor([[0.0, 0.0, 2.0], [3.0, 0.0, 1e-30]]))


def test_constraints_run_without_autograd_on_parameters():
    lin = nn.Linear(4, 3)
    with torch.no_grad():
        lin.weight.mul_(10)
    MaxNorm(1.0)(lin.weight)  # a leaf requiring grad: would fail outside no_grad
    assert lin.weight.grad_fn is None and lin.weight.requires_grad
    assert bool((lin.weight.detach().norm(dim=1) <= 1.0 + 1e-6).all())


def test_half_precision_norms_are_accumulated_in_float32():
    w = torch.full((2, 4096), 1.0, dtype=torch.bfloat16)
    MaxNorm(8.0)(w)  # the norm is 64: a bfloat16 sum of 4096 ones would stall at 256
    torch.testing.assert_close(w.float().norm(dim=1), torch.tensor([8.0, 8.0]), rtol=1e-2, atol=0)


def test_config_round_trip_and_repr():
    m = MaxNorm(2.0, axis=(1, 2))
    assert m.get_config() == {"max_value": 2.0, "axis": (1, 2)}
    assert MaxNorm.from_config(m.get_config()).get_config() == m.get_config()
    assert repr(UnitNorm()) == "UnitNorm(axis=None)" and repr(NonNeg()) == "NonNeg()"
    assert isinstance(m, Constraint)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: MaxNorm(0.0),
            "Invalid value received for argument `max_value`. Expected a float > 0. Received: max_value=0.0",
        ),
        (lambda: MaxNorm(float("inf")), "argument `max_value`"),
        (lambda: MaxNorm(1.0, axis=1.5), "argument `axis`. Expected None, an integer or a tuple"),
        (lambda: UnitNorm(axis=(1, 1)), "argument `axis`"),
        (
            lambda: MaxNorm(1.0, axis=2)(torch.ones(3, 3)),
            "argument `axis`. Expected dimensions of a 2-D tensor. Received: axis=2",
        ),
        (lambda: UnitNorm(axis=(0, -2))(torch.ones(3, 3)), "argument `axis`. Expected distinct dimensions"),
        (lambda: NonNeg()([1.0]), "argument `tensor`. Expected a torch.Tensor"),
        (lambda: ApplyConstraint(nn.Linear(2, 2), "maxnorm"), "argument `constraint`"),
        (lambda: ApplyConstraint(torch.ones(2), NonNeg()), "argument `model_or_params`"),
        (lambda: ApplyConstraint(nn.Linear(2, 2), NonNeg(), include_bias=None), "argument `include_bias`"),
    ],
)
def test_bad_arguments_get_the_one_sentence(call, message):
    with pytest.raises(InvalidArgumentError) as info:
        call()
    assert message in str(info.value)


def test_apply_constraint_runs_after_every_step_in_fit():
    torch.manual_seed(0)
    X, y = torch.randn(64, 5) * 10, torch.randint(0, 3, (64,))
    model = nn.Sequential(nn.Linear(5, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 3))
    callback = ApplyConstraint(model, MaxNorm(0.5))
    assert [t.shape for t in callback.tensors] == [torch.Size([16, 5]), torch.Size([3, 16])]
    seen = []

    class Probe(ApplyConstraint):
        def on_step_end(self, state):
            super().on_step_end(state)
            seen.append(max(t.detach().norm(dim=1).max().item() for t in self.tensors))

    probe = Probe(model, MaxNorm(0.5))
    fit(
        model,
        BatchIterator(X, y, batch_size=8, seed=0),
        loss_fn=nn.functional.cross_entropy,
        optimizer=torch.optim.SGD(model.parameters(), lr=1.0),
        epochs=2,
        callbacks=[probe],
        progress=False,
    )
    assert len(seen) == 16  # 8 steps per epoch, 2 epochs
    assert max(seen) <= 0.5 + 1e-6
    # lr = 1 on inputs scaled by 10 pushes rows past 0.5: the constraint did act
    assert max(seen) >= 0.5 - 1e-3
    # biases and the LayerNorm are left alone unless asked
    assert len(ApplyConstraint(model, NonNeg(), include_bias=True).tensors) == 4


@needs_cuda
def test_constraints_stay_on_the_device_and_match_renorm():
    w = torch.randn(8, 5, 3, device="cuda") * 3
    expected = torch.renorm(w, 2, 0, 1.0)
    MaxNorm(1.0)(w)
    assert w.device.type == "cuda"
    torch.testing.assert_close(w, expected, rtol=1e-6, atol=0)
    UnitNorm()(w)
    torch.testing.assert_close(w.flatten(1).norm(dim=1), torch.ones(8, device="cuda"), rtol=1e-6, atol=0)
