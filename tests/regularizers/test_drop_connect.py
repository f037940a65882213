"""DropConnect against torch's functional layers with the same weight mask.

The reference mask is redrawn with ``reglab.keep_mask`` from the same generator
seed, so forward values and gradients are compared exactly (float64). For
recurrent layers the reference is a copy of the layer holding the masked
weights.
"""

from __future__ import annotations

import copy
import io
import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reglab.core.errors import InvalidArgumentError
from reglab.regularizers.drop_connect import DropConnect, drop_connect_weight
from reglab.regularizers.masks import keep_mask
from reglab.regularizers.mc_prediction import mc_mode
from tests.helpers import K, gen, needs_cuda


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
    x = torch.randn(shape, dtype=torch.float64, generator=gen(1))
    wrapped = DropConnect(layer, p, drop_bias=drop_bias, generator=gen(9))
    out = wrapped(x)
    upstream = torch.randn(out.shape, dtype=torch.float64, generator=gen(2))
    out.backward(upstream)

    g = gen(9)  # the same draws, in the same order: weight mask, then bias mask
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
    out = drop_connect_weight(torch.ones(n, dtype=torch.float64), p, generator=gen(3))
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
    wrapped = DropConnect(layer, 0.5, mc=True, generator=gen(4)).eval()
    a, b = wrapped(x), wrapped(x)
    assert not torch.equal(a, b) and not torch.equal(a, layer(x))
    mask = keep_mask(layer.weight.shape, 0.5, generator=gen(4))
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
    wrapped = DropConnect(layer, 0.5, generator=gen(5))
    opt = torch.optim.SGD(wrapped.parameters(), lr=0.1)
    x = torch.ones(1, 5)
    wrapped(x).sum().backward()
    opt.step()
    mask = keep_mask((1, 5), 0.5, generator=gen(5))
    torch.testing.assert_close(layer.weight.detach(), before - 0.1 * 2.0 * mask.float())


def test_torch_compile_with_a_generator_gives_the_eager_result():
    # With a generator the mask is the eager one (drawn outside the compiled graph).
    torch._dynamo.reset()
    layer = nn.Linear(6, 3)
    x = torch.randn(4, 6)
    compiled = torch.compile(DropConnect(layer, 0.5, generator=gen(5)), backend="aot_eager")
    out = compiled(x)
    out.sum().backward()
    grad_compiled, layer.weight.grad = layer.weight.grad.clone(), None
    expected = DropConnect(layer, 0.5, generator=gen(5))(x)
    expected.sum().backward()
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(grad_compiled, layer.weight.grad)
    assert (grad_compiled == 0).any()  # some weights were dropped
    torch._dynamo.reset()


def test_bad_arguments():
    with pytest.raises(
        InvalidArgumentError,
        match=r"^Invalid value received for argument `module`\. Expected an "
        r"nn\.Linear, nn\.Conv1d, nn\.Conv2d, nn\.Conv3d, nn\.RNN, nn\.LSTM or nn\.GRU\. "
        r"Received: module='ConvTranspose2d'$",
    ):
        DropConnect(nn.ConvTranspose2d(2, 2, 3))
    with pytest.raises(InvalidArgumentError, match="argument `module`"):
        DropConnect(nn.LSTMCell(3, 3))
    with pytest.raises(
        InvalidArgumentError, match=r"argument `p`\. Expected a float between 0 and 1\. Received: p=-0\.1"
    ):
        DropConnect(nn.Linear(2, 2), -0.1)
    with pytest.raises(InvalidArgumentError, match="argument `mc`"):
        DropConnect(nn.Linear(2, 2), 0.1, mc="yes")
    with pytest.raises(InvalidArgumentError, match="argument `generator`"):
        drop_connect_weight(torch.ones(2), 0.1, generator=0)
    assert "p=0.25, mc=True, drop_bias=False, weights=('weight',)" in repr(DropConnect(nn.Linear(2, 2), 0.25, mc=True))
    with pytest.raises(TypeError):
        DropConnect(nn.Linear(2, 2), 0.5)(torch.ones(1, 2), torch.ones(1, 2))  # Linear takes one input


# Recurrent layers: AWD-LSTM's weight drop. The reference is an independent copy
# of the layer whose dropped weights were overwritten, under no_grad, with the
# masked weights: it proves that the wrapped layer's forward really uses them
# (RNNBase caches its weights in _flat_weights) and that one mask serves the
# whole batch and every time step.


def _rnn(kind: str, bidirectional: bool = False, num_layers: int = 1, **kwargs) -> nn.RNNBase:
    torch.manual_seed(0)
    return getattr(nn, kind)(3, 4, num_layers=num_layers, bidirectional=bidirectional, **kwargs).double()


def _hx(kind: str, rnn: nn.RNNBase, batch: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    shape = (rnn.num_layers * (2 if rnn.bidirectional else 1), batch, rnn.hidden_size)
    h = torch.randn(shape, dtype=torch.float64, generator=gen(6))
    return (h, torch.randn(shape, dtype=torch.float64, generator=gen(7))) if kind == "LSTM" else h


def _masked_twin(rnn: nn.RNNBase, p: float, names, seed: int):
    """A deep copy of ``rnn`` holding ``w * mask / (1 - p)`` for each name, the masks drawn in order from ``seed``."""
    g = gen(seed)
    masks = {name: keep_mask(getattr(rnn, name).shape, p, generator=g) for name in names}
    twin = copy.deepcopy(rnn)
    with torch.no_grad():
        for name, mask in masks.items():
            getattr(twin, name).copy_(getattr(rnn, name) * mask / (1 - p))
    return twin, masks


def _flat(result) -> list[torch.Tensor]:
    out, h = result
    return [out, *h] if isinstance(h, tuple) else [out, h]


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("bidirectional, num_layers", [(False, 1), (True, 2)])
def test_recurrent_output_and_gradients_equal_a_copy_holding_the_masked_weights(kind, bidirectional, num_layers):
    p = 0.4
    rnn = _rnn(kind, bidirectional, num_layers)
    names = [f"weight_hh_l{k}{suffix}" for k in range(num_layers) for suffix in ["", "_reverse"][: 1 + bidirectional]]
    x = torch.randn(6, 2, 3, dtype=torch.float64, generator=gen(1))
    hx = _hx(kind, rnn, 2)
    wrapped = DropConnect(rnn, p, generator=gen(9))
    assert wrapped.weights == tuple(names)
    result = wrapped(x, hx)
    assert type(result) is type(rnn(x, hx)) and type(result[1]) is type(rnn(x, hx)[1])
    twin, masks = _masked_twin(rnn, p, names, seed=9)
    expected = twin(x, hx)
    upstream = [torch.randn(t.shape, dtype=torch.float64, generator=gen(2 + i)) for i, t in enumerate(_flat(result))]
    for got, want in zip(_flat(result), _flat(expected)):
        torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-15)
    assert not torch.allclose(result[0], rnn(x, hx)[0])  # the masks matter
    torch.autograd.backward(_flat(result), upstream)
    torch.autograd.backward(_flat(expected), upstream)
    for name, param in rnn.named_parameters():
        twin_grad = getattr(twin, name).grad
        if name in masks:  # chain rule through w * mask / (1 - p)
            torch.testing.assert_close(param.grad, twin_grad * masks[name] / (1 - p), rtol=1e-13, atol=1e-15)
            assert (param.grad[~masks[name]] == 0).all() and (param.grad[masks[name]] != 0).all()
        else:  # weight_ih_*, biases: used as they are
            torch.testing.assert_close(param.grad, twin_grad, rtol=1e-13, atol=1e-15)
            assert (param.grad != 0).all()


def test_recurrent_passes_keywords_batch_first_and_packed_sequences_through():
    p = 0.5
    rnn = _rnn("LSTM", batch_first=True)
    x = torch.randn(3, 5, 3, dtype=torch.float64, generator=gen(1))
    packed = nn.utils.rnn.pack_padded_sequence(x, torch.tensor([5, 3, 2]), batch_first=True)
    hx = _hx("LSTM", rnn, 3)
    out, (h, c) = DropConnect(rnn, p, generator=gen(4))(packed, hx=hx)
    twin, _ = _masked_twin(rnn, p, ["weight_hh_l0"], seed=4)
    out_ref, (h_ref, c_ref) = twin(packed, hx=hx)
    assert isinstance(out, nn.utils.rnn.PackedSequence)
    for got, want in [(out.data, out_ref.data), (h, h_ref), (c, c_ref)]:
        torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-15)


def test_recurrent_masks_are_fresh_each_pass_reproducible_and_off_in_eval():
    rnn = _rnn("GRU")
    x = torch.randn(4, 2, 3, dtype=torch.float64, generator=gen(1))
    a = DropConnect(rnn, 0.5, generator=gen(3))
    first = a(x)[0]
    assert torch.equal(first, DropConnect(rnn, 0.5, generator=gen(3))(x)[0])
    assert not torch.equal(first, a(x)[0])
    a.eval()  # the originals are back in the layer's cached weights
    assert torch.equal(a(x)[0], rnn(x)[0]) and torch.equal(DropConnect(rnn, 0.0)(x)[0], rnn(x)[0])
    mc = DropConnect(rnn, 0.5, mc=True, generator=gen(3)).eval()
    assert torch.equal(mc(x)[0], first)
    zeroed = copy.deepcopy(rnn)
    with torch.no_grad():
        zeroed.weight_hh_l0.zero_()
    torch.testing.assert_close(DropConnect(rnn, 1.0)(x)[0], zeroed(x)[0], rtol=0.0, atol=0.0)


def test_mc_mode_switches_recurrent_weight_drop_on():
    rnn = _rnn("LSTM")
    wrapped = DropConnect(rnn, 0.5, generator=gen(3)).eval()
    x = torch.randn(4, 2, 3, dtype=torch.float64, generator=gen(1))
    with mc_mode(wrapped):
        assert wrapped.module.training  # an RNN is a dropout owner itself: mc_mode switches it on too
        a, b = wrapped(x)[0], wrapped(x)[0]
    assert not torch.equal(a, b)
    twin, _ = _masked_twin(rnn, 0.5, ["weight_hh_l0"], seed=3)
    torch.testing.assert_close(a, twin(x)[0], rtol=1e-13, atol=1e-15)
    assert not wrapped.training and torch.equal(wrapped(x)[0], rnn(x)[0])


def test_recurrent_parameters_state_dict_and_copies_are_the_layers():
    rnn = nn.LSTM(3, 4, num_layers=2)
    keys = list(rnn.state_dict())
    wrapped = DropConnect(rnn, 0.5)
    x = torch.randn(5, 2, 3)
    wrapped(x)[0].sum().backward()  # a forward pass replaces nothing
    assert list(wrapped.state_dict()) == [f"module.{k}" for k in keys]
    assert [id(q) for q in wrapped.parameters()] == [id(q) for q in rnn.parameters()]
    assert all(type(q) is nn.Parameter for q in rnn.parameters())
    clone = copy.deepcopy(wrapped).eval()  # RNNBase drops the masked tensors from its cache first
    buffer = io.BytesIO()
    torch.save(wrapped, buffer)
    assert torch.equal(clone(x)[0], rnn(x)[0])
    other = DropConnect(nn.LSTM(3, 4, num_layers=2), 0.5)
    other.load_state_dict(wrapped.state_dict())
    assert torch.equal(other.eval()(x)[0], rnn(x)[0])


def test_named_weights_are_dropped_in_the_layers_parameter_order():
    p = 0.3
    rnn = _rnn("LSTM")
    x = torch.randn(4, 2, 3, dtype=torch.float64, generator=gen(1))
    wrapped = DropConnect(rnn, p, weights=["weight_hh_l0", "weight_ih_l0"], generator=gen(8))
    assert wrapped.weights == ("weight_ih_l0", "weight_hh_l0")
    twin, _ = _masked_twin(rnn, p, ["weight_ih_l0", "weight_hh_l0"], seed=8)
    torch.testing.assert_close(wrapped(x)[0], twin(x)[0], rtol=1e-13, atol=1e-15)
    # Linear: weights=("weight", "bias") is drop_bias=True; ("bias",) drops the bias alone.
    layer = nn.Linear(6, 5).double()
    x = torch.randn(3, 6, dtype=torch.float64, generator=gen(1))
    both = DropConnect(layer, p, weights=("bias", "weight"), generator=gen(2))(x)
    torch.testing.assert_close(both, DropConnect(layer, p, drop_bias=True, generator=gen(2))(x), rtol=0, atol=0)
    mask = keep_mask(layer.bias.shape, p, generator=gen(2))
    only_bias = DropConnect(layer, p, weights=("bias",), generator=gen(2))(x)
    torch.testing.assert_close(only_bias, F.linear(x, layer.weight, layer.bias * mask / (1 - p)))


def test_bad_weights():
    names = "'weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0'"
    for bad, shown in [
        (["weight_hh_l1"], "['weight_hh_l1']"),
        ("weight_hh_l0", "'weight_hh_l0'"),
        ([], "[]"),
        (("weight_hh_l0", "weight_hh_l0"), "('weight_hh_l0', 'weight_hh_l0')"),
        ([0], "[0]"),
        ([["weight_hh_l0"]], "[['weight_hh_l0']]"),
    ]:
        sentence = (
            "Invalid value received for argument `weights`. Expected a non-empty list or tuple of distinct "
            f"parameter names of the module, from {names}. Received: weights={shown}"
        )
        with pytest.raises(InvalidArgumentError, match=f"^{re.escape(sentence)}$"):
            DropConnect(nn.LSTM(3, 3), 0.5, weights=bad)
    with pytest.raises(
        InvalidArgumentError,
        match=r"argument `weights`\. Expected .* from 'weight', 'bias'\. "
        r"Received: weights=\('weight_hh_l0',\)$",
    ):
        DropConnect(nn.Linear(2, 2), weights=("weight_hh_l0",))
    bias_sentence = (
        r"^Invalid value received for argument `drop_bias`\. Expected False for a recurrent layer or "
        r"with `weights` \(name the biases in `weights`\)\. Received: drop_bias=True$"
    )
    with pytest.raises(InvalidArgumentError, match=bias_sentence):
        DropConnect(nn.GRU(3, 3), 0.5, drop_bias=True)
    with pytest.raises(InvalidArgumentError, match=bias_sentence):
        DropConnect(nn.Linear(2, 2), 0.5, drop_bias=True, weights=["weight"])
    assert "weights=('weight_hh_l0', 'weight_hh_l0_reverse')" in repr(DropConnect(nn.RNN(2, 2, bidirectional=True)))


@needs_cuda
def test_cuda_reproducible_on_device():
    layer = nn.Conv2d(3, 4, 3).cuda()
    x = torch.randn(2, 3, 8, 8, device="cuda")
    a = DropConnect(layer, 0.5, generator=gen(1, "cuda"))(x)
    b = DropConnect(layer, 0.5, generator=gen(1, "cuda"))(x)
    assert a.device == x.device and torch.equal(a, b)
