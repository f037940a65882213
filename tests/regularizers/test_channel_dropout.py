"""reglab.regularizers.channel_dropout: channel-wise dropout against torch.nn.functional.dropout1d/2d/3d.

Tolerances are k = 5 binomial standard errors, with fixed seeds.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import reglab.regularizers.inverted_dropout as rd
from reglab.core.errors import InvalidArgumentError
from reglab.regularizers.channel_dropout import Dropout1d, Dropout2d, Dropout3d, dropout1d, dropout2d, dropout3d
from reglab.regularizers.masks import keep_mask
from tests.helpers import K, forward_and_grad, gen, needs_cuda

# spatial dims -> (function, Module, torch function, a batched shape)
CASES = {
    1: (dropout1d, Dropout1d, F.dropout1d, (6, 5, 7)),
    2: (dropout2d, Dropout2d, F.dropout2d, (6, 5, 4, 3)),
    3: (dropout3d, Dropout3d, F.dropout3d, (6, 5, 2, 3, 4)),
}


@pytest.mark.parametrize("spatial", [1, 2, 3])
@pytest.mark.parametrize("p", [0.2, 0.6])
def test_forward_and_backward_equal_torch_given_the_same_mask(monkeypatch, spatial, p):
    fn, _, torch_fn, shape = CASES[spatial]
    torch.manual_seed(spatial)
    x = torch.randn(shape, dtype=torch.float64)
    upstream = torch.randn(shape, dtype=torch.float64)
    expected, expected_grad = forward_and_grad(lambda t: torch_fn(t, p, training=True), x, upstream)
    # x has no zeros: torch's zeros are its dropped channels, one value per (sample, channel).
    torch_mask = (expected != 0).flatten(2)
    assert torch.equal(torch_mask.all(-1), torch_mask.any(-1))
    channel_mask = torch_mask[..., 0]
    monkeypatch.setattr(rd, "draw_keep_mask", lambda s, p_, device, generator: channel_mask.reshape(s))
    actual, actual_grad = forward_and_grad(lambda t: fn(t, p), x, upstream)
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    torch.testing.assert_close(actual_grad, expected_grad, rtol=0, atol=0)


@pytest.mark.parametrize("spatial", [1, 2, 3])
def test_mask_is_keep_mask_of_n_by_c_broadcast_and_unbatched_matches_batched(spatial):
    fn, module, _, shape = CASES[spatial]
    x = torch.randn(shape, dtype=torch.float64)
    mask = keep_mask(shape[:2] + (1,) * spatial, 0.3, generator=gen(4))
    out = fn(x, 0.3, generator=gen(4))
    assert torch.equal(out, x * mask * (1.0 / 0.7))
    assert torch.equal(module(0.3, generator=gen(4))(x), out)
    # (C, *) is one sample: the same words give the same per-channel mask.
    single = x[0]
    assert torch.equal(fn(single, 0.3, generator=gen(4)), fn(single.unsqueeze(0), 0.3, generator=gen(4))[0])


def test_dropout2d_reads_a_3d_input_as_unbatched_channels_not_as_torchs_n_c_l():
    x = torch.ones(8, 5, 6)  # (C, H, W)
    out = dropout2d(x, 0.5, generator=gen(1))
    per_channel = (out != 0).flatten(1)
    assert torch.equal(per_channel.all(-1), per_channel.any(-1))  # whole (H, W) maps dropped


@pytest.mark.parametrize("spatial", [1, 2, 3])
def test_channel_keep_rate_is_one_minus_p(spatial):
    fn = CASES[spatial][0]
    n, c, p = 500, 200, 0.4
    out = fn(torch.ones((n, c) + (2,) * spatial), p, generator=gen(spatial))
    kept = (out != 0).flatten(2)
    assert torch.equal(kept.all(-1), kept.any(-1))
    rate = kept[..., 0].double().mean().item()
    assert abs(rate - (1 - p)) < K * math.sqrt(p * (1 - p) / (n * c))
    torch.testing.assert_close(out[out != 0], torch.full_like(out[out != 0], 1 / (1 - p)), rtol=0, atol=0)


@pytest.mark.parametrize("spatial", [1, 2, 3])
def test_eval_p_zero_p_one_inplace_and_repr(spatial):
    fn, module, _, shape = CASES[spatial]
    x = torch.randn(shape)
    assert module(0.5).eval()(x) is x
    assert module(0.0)(x) is x
    assert fn(x, 0.5, training=False) is x
    assert torch.equal(fn(x, 1.0), torch.zeros(shape))
    y = x.clone()
    expected = fn(x, 0.5, generator=gen(2))
    assert fn(y, 0.5, inplace=True, generator=gen(2)) is y and torch.equal(y, expected)
    assert repr(module(0.1)) == f"Dropout{spatial}d(p=0.1, inplace=False)"


@pytest.mark.parametrize("spatial", [1, 2, 3])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.float64])
def test_dtype_and_device_are_kept(spatial, dtype):
    fn, _, _, shape = CASES[spatial]
    x = torch.randn(shape).to(dtype)
    out = fn(x, 0.5, generator=gen(0))
    assert out.dtype == dtype and out.device == x.device and out.shape == x.shape


@pytest.mark.parametrize("spatial, ndim", [(1, 1), (1, 4), (2, 2), (2, 5), (3, 3), (3, 6)])
def test_wrong_number_of_dimensions_is_one_sentence_even_in_eval(spatial, ndim):
    fn, module, _, _ = CASES[spatial]
    x = torch.ones((2,) * ndim)
    layouts = {
        1: "a 2-D (C, L) or 3-D (N, C, L) tensor",
        2: "a 3-D (C, H, W) or 4-D (N, C, H, W) tensor",
        3: "a 4-D (C, D, H, W) or 5-D (N, C, D, H, W) tensor",
    }
    message = (
        f"Invalid value received for argument `x`. Expected {layouts[spatial]}."
        f" Received: x=<{ndim}-D tensor of shape {(2,) * ndim}>"
    )
    for call in (lambda: fn(x, 0.5), lambda: fn(x, 0.5, training=False), lambda: module(0.5).eval()(x)):
        with pytest.raises(InvalidArgumentError) as info:
            call()
        assert str(info.value) == message


@pytest.mark.parametrize("bad", [-0.5, 1.01, float("nan"), "0.1"])
def test_bad_arguments_are_rejected_at_construction(bad):
    for module in (Dropout1d, Dropout2d, Dropout3d):
        with pytest.raises(InvalidArgumentError) as info:
            module(bad)
        assert str(info.value) == (
            f"Invalid value received for argument `p`. Expected a float between 0 and 1. Received: p={bad!r}"
        )
    with pytest.raises(InvalidArgumentError, match="argument `inplace`"):
        Dropout2d(0.5, inplace=None)
    with pytest.raises(InvalidArgumentError, match="argument `generator`"):
        dropout2d(torch.ones(2, 2, 2), 0.5, generator="g")


@settings(max_examples=40, deadline=None)
@given(
    spatial=st.sampled_from([1, 2, 3]),
    batched=st.booleans(),
    data=st.data(),
    p=st.floats(0.0, 1.0),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.bfloat16]),
    seed=st.integers(0, 2**31),
)
def test_property_each_channel_is_dropped_whole_or_scaled(spatial, batched, data, p, dtype, seed):
    dims = data.draw(st.lists(st.integers(1, 4), min_size=spatial + 2, max_size=spatial + 2))
    shape = tuple(dims if batched else dims[1:])
    x = (torch.rand(shape, generator=gen(seed)) + 0.5).to(dtype)
    out = CASES[spatial][0](x, p, generator=gen(seed))
    assert out.shape == x.shape and out.dtype == dtype
    if p == 0.0:
        assert out is x
        return
    channels = len(shape) - spatial
    kept = (out != 0).flatten(channels)
    assert torch.equal(kept.all(-1), kept.any(-1))
    if p < 1.0:
        scaled = (x.double() / (1.0 - p)).to(dtype)
        rtol = {torch.float64: 1e-15, torch.float32: 2.4e-7, torch.bfloat16: 1e-2}[dtype]  # one rounding
        torch.testing.assert_close(out[out != 0], scaled[out != 0], rtol=rtol, atol=0)


@needs_cuda
def test_cuda_generator_reproducible():
    x = torch.randn(8, 16, 5, 5, device="cuda")
    a = dropout2d(x, 0.3, generator=gen(0, "cuda"))
    assert a.device == x.device and torch.equal(a, dropout2d(x, 0.3, generator=gen(0, "cuda")))
