"""DropConnect against torch's functional layers with the same weight mask.

The reference mask is redrawn with ``reglab.keep_mask`` from the same generator
seed, so forward values and gradients are compared exactly (float64).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reglab.drop import keep_mask
from reglab.dropconnect import DropConnect, drop_connect_weight
from reglab.errors import InvalidArgumentError

from conftest import needs_cuda

K = 5.0


def _gen(seed: int = 0, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _layers():
    torch.manual_seed(0)
    return {
        "linear": (nn.Linear(7, 5), (4, 7)),
        "conv1d": (nn.Conv1d(3, 4, 3, padding=1), (2, 3, 9)),
        "conv2d_reflect": (nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), (2, 3, 6, 6)),
        "conv3d": (nn.Conv3d(2, 3, 2, stride=2), (2, 2, 4, 4, 4)),
    }


@pytest.mark.parametrize("name", list(_layers()))
@pytest.mark.parametrize("drop_bias", [False, True])
def test_forward_and_gradients_equal_the_layer_with_a_masked_weight(name, drop_bias):
    layer, shape = _layers()[name]
    layer = layer.double()
    p = 0.4
    x = torch.randn(shape, dtype=torch.float64, generator=_gen(1))
    wrapped = DropConnect(layer, p, drop_bias=drop_bias, generator=_gen(9))
    out = wrapped(x)
    upstream = torch.randn(out.shape, dtype=torch.float64, generator=_gen(2))
    out.backward(upstream)

    g = _gen(9)  # the same draws, in the same order: weight mask, then bias mask
    w_mask = keep_mask(layer.weight.shape, p, generator=g)
    b_mask = keep_mask(layer.bias.shape, p, generator=g) if drop_bias else torch.ones_like(layer.bias, dtype=torch.bool)
    w = layer.weight.detach().clone().requires_grad_(True)
    b = layer.bias.detach().clone().requires_grad_(True)
    reference = layer._conv_forward if name != "linear" else None
    w_used, b_used = w * w_mask / (1 - p), b * b_mask / (1 - p) if drop_bias else b
    expected = F.linear(x, w_used, b_used) if reference is None else reference(x, w_used, b_used)
    expected.backward(upstream)
    torch.testing.assert_close(out, expected, rtol=1e-15, atol=1e-15)
    torch.testing.assert_close(layer.weight.grad, w.grad, rtol=1e-15, atol=1e-15)
    torch.testing.assert_close(layer.bias.grad, b.grad, rtol=1e-15, atol=1e-15)
    # The gradient is masked: a dropped weight gets exactly zero.
    assert (layer.weight.grad[~w_mask] == 0).all()


def test_weight_mask_keep_rate_and_scale():
    p, n = 0.3, 1 << 18
    out = drop_connect_weight(torch.ones(n, dtype=torch.float64), p, generator=_gen(3))
    kept = out != 0
    assert torch.equal(out[kept], torch.full_like(out[kept], 1 / (1 - p)))
    assert abs(kept.double().mean().item() - (1 - p)) < K * math.sqrt(p * (1 - p) / n)


def test_p0_p1_and_eval_mode():
    w = torch.randn(3, 4)
    assert drop_connect_weight(w, 0.0) is w
    assert torch.equal(drop_connect_weight(w, 1.0), torch.zeros_like(w))
    layer = nn.Linear(4, 3)
    x = torch.randn(2, 4)
    wrapped = DropConnect(layer, 0.5).eval()
    assert torch.equal(wrapped(x), layer(x))
    assert torch.equal(DropConnect(layer, 0.0)(x), layer(x))
    assert torch.equal(DropConnect(layer, 1.0)(x), layer.bias.detach().expand(2, 3))


def test_mc_mode_stays_random_in_eval():
    layer = nn.Linear(16, 8)
    x = torch.randn(2, 16)
    wrapped = DropConnect(layer, 0.5, mc=True, generator=_gen(4)).eval()
    a, b = wrapped(x), wrapped(x)
    assert not torch.equal(a, b) and not torch.equal(a, layer(x))
    mask = keep_mask(layer.weight.shape, 0.5, generator=_gen(4))
    torch.testing.assert_close(a, F.linear(x, layer.weight * mask * 2.0, layer.bias))


def test_parameters_and_state_dict_are_the_wrapped_layers():
    layer = nn.Conv2d(2, 3, 3)
    keys = list(layer.state_dict())
    wrapped = DropConnect(layer, 0.5)
    assert list(wrapped.state_dict()) == [f"module.{k}" for k in keys]
    assert [id(q) for q in wrapped.parameters()] == [id(q) for q in layer.parameters()]
    wrapped(torch.randn(1, 2, 5, 5))  # a forward pass replaces nothing
    assert type(layer.weight) is nn.Parameter and list(wrapped.state_dict()) == [f"module.{k}" for k in keys]
    other = DropConnect(nn.Conv2d(2, 3, 3), 0.5)
    other.load_state_dict(wrapped.state_dict())
    assert torch.equal(other.module.weight, layer.weight)


def test_an_optimizer_step_updates_the_original_parameter_by_the_masked_gradient():
    layer = nn.Linear(5, 1, bias=False)
    before = layer.weight.detach().clone()
    wrapped = DropConnect(layer, 0.5, generator=_gen(5))
    opt = torch.optim.SGD(wrapped.parameters(), lr=0.1)
    x = torch.ones(1, 5)
    wrapped(x).sum().backward()
    opt.step()
    mask = keep_mask((1, 5), 0.5, generator=_gen(5))
    torch.testing.assert_close(layer.weight.detach(), before - 0.1 * 2.0 * mask.float())


def test_torch_compile_with_a_generator_gives_the_eager_result():
    # With a generator the mask is the eager one (drawn outside the compiled graph).
    torch._dynamo.reset()
    layer = nn.Linear(6, 3)
    x = torch.randn(4, 6)
    compiled = torch.compile(DropConnect(layer, 0.5, generator=_gen(5)), backend="aot_eager")
    out = compiled(x)
    out.sum().backward()
    grad_compiled, layer.weight.grad = layer.weight.grad.clone(), None
    expected = DropConnect(layer, 0.5, generator=_gen(5))(x)
    expected.sum().backward()
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(grad_compiled, layer.weight.grad)
    assert (grad_compiled == 0).any()  # some weights were dropped
    torch._dynamo.reset()


def test_bad_arguments():
    with pytest.raises(InvalidArgumentError, match=r"^Invalid value received for argument `module`\. Expected an "
                       r"nn\.Linear, nn\.Conv1d, nn\.Conv2d or nn\.Conv3d\. Received: module='ConvTranspose2d'$"):
        DropConnect(nn.ConvTranspose2d(2, 2, 3))
    with pytest.raises(InvalidArgumentError, match="argument `module`"):
        DropConnect(nn.LSTM(3, 3))
    with pytest.raises(InvalidArgumentError, match=r"argument `p`\. Expected a float between 0 and 1\. Received: p=-0\.1"):
        DropConnect(nn.Linear(2, 2), -0.1)
    with pytest.raises(InvalidArgumentError, match="argument `mc`"):
        DropConnect(nn.Linear(2, 2), 0.1, mc="yes")
    with pytest.raises(InvalidArgumentError, match="argument `generator`"):
        drop_connect_weight(torch.ones(2), 0.1, generator=0)
    assert "p=0.25, mc=True, drop_bias=False" in repr(DropConnect(nn.Linear(2, 2), 0.25, mc=True))


@needs_cuda
def test_cuda_reproducible_on_device():
    layer = nn.Conv2d(3, 4, 3).cuda()
    x = torch.randn(2, 3, 8, 8, device="cuda")
    a = DropConnect(layer, 0.5, generator=_gen(1, "cuda"))(x)
    b = DropConnect(layer, 0.5, generator=_gen(1, "cuda"))(x)
    assert a.device == x.device and torch.equal(a, b)
