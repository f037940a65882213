"""reglab.dropout / Dropout against torch and against its statistical contract.

Tolerances are k standard errors of the binomial or normal distribution
involved (k = 5: a false alarm about once in 1.7 million runs), with fixed
seeds.
"""

from __future__ import annotations

import math
import zlib

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import reglab.regularizers.inverted_dropout as rd
import reglab.regularizers.masks as masks
from reglab import Dropout, dropout, keep_mask
from reglab.core.errors import InvalidArgumentError
from reglab.regularizers.masks import CPU_CHUNK
from tests.helpers import K, forward_and_grad, gen, needs_cuda, saved_bytes


def _inject_mask(monkeypatch, mask: torch.Tensor) -> None:
    """Make reglab's dropout use ``mask`` instead of drawing one."""
    monkeypatch.setattr(rd, "draw_keep_mask", lambda shape, p, device, generator: mask.reshape(shape))


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8])
def test_forward_and_backward_equal_torch_given_the_same_mask(monkeypatch, p):
    torch.manual_seed(0)
    x = torch.randn(64, 33, dtype=torch.float64)
    upstream = torch.randn(64, 33, dtype=torch.float64)
    torch.manual_seed(1)
    expected, expected_grad = forward_and_grad(lambda t: F.dropout(t, p, training=True), x, upstream)
    torch_mask = expected != 0  # x has no zeros, so the output's zeros are the drops
    _inject_mask(monkeypatch, torch_mask)
    actual, actual_grad = forward_and_grad(lambda t: dropout(t, p), x, upstream)
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    torch.testing.assert_close(actual_grad, expected_grad, rtol=0, atol=0)


def test_float32_matches_torch_to_one_ulp(monkeypatch):
    torch.manual_seed(0)
    x = torch.randn(1000, requires_grad=True)
    torch.manual_seed(2)
    expected = F.dropout(x, 0.3)
    _inject_mask(monkeypatch, expected.detach() != 0)
    torch.testing.assert_close(dropout(x, 0.3), expected, rtol=2.4e-7, atol=0)


@pytest.mark.parametrize("p", [0.001, 0.05, 0.2, 0.5, 0.9, 0.999])
def test_keep_rate_is_one_minus_p_overall_and_in_every_byte_of_each_random_word(p):
    n = 1 << 21
    # A fixed seed per p: CRC-32 of p's hex form is the same in every process
    # (str.__hash__ is salted per interpreter, so it gave another mask each run).
    m = keep_mask((n,), p, generator=gen(zlib.crc32(p.hex().encode())))
    q = 1.0 - p
    se = math.sqrt(p * q / n)
    assert abs(m.double().mean().item() - q) < K * se
    # On the CPU elements 8k..8k+7 take their top byte from one int64 word; a
    # plain ``random_()`` would leave the last byte's sign bit at 0 and bias it.
    for lane in range(8):
        assert abs(m[lane::8].double().mean().item() - q) < K * se * math.sqrt(8)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.7])
def test_inverted_dropout_keeps_the_mean(p):
    n = 1 << 20
    x = torch.full((n,), 3.0, dtype=torch.float64)
    out = dropout(x, p, generator=gen(5))
    # Each output is 3/(1-p) with probability 1-p, else 0: variance 9 p/(1-p).
    se = math.sqrt(9.0 * p / (1.0 - p) / n)
    assert abs(out.mean().item() - 3.0) < K * se


def test_survivors_are_scaled_by_exactly_one_over_one_minus_p():
    x = torch.randn(10_000, dtype=torch.float64).abs() + 0.1
    for p in (0.1, 0.25, 0.6):
        out = dropout(x, p, generator=gen(1))
        kept = out != 0
        assert torch.equal(out[kept], x[kept] * (1.0 / (1.0 - p)))
        assert torch.all(out[~kept] == 0)


def test_masks_are_independent_across_calls_and_elements():
    n, p = 1 << 20, 0.5
    g = gen(3)
    a, b = keep_mask((n,), p, generator=g), keep_mask((n,), p, generator=g)
    agree = (a == b).double().mean().item()
    # Independent masks agree with probability p^2 + (1-p)^2.
    expected = p * p + (1 - p) * (1 - p)
    assert abs(agree - expected) < K * math.sqrt(expected * (1 - expected) / n)
    # Neighbouring elements are uncorrelated: correlation ~ N(0, 1/n).
    z = a.double() - a.double().mean()
    corr = (z[:-1] * z[1:]).mean() / z.var()
    assert abs(corr.item()) < K / math.sqrt(n)


def test_same_generator_state_same_mask_and_keep_mask_agrees():
    x = torch.randn(300, 1000)  # more than one CPU chunk
    first = dropout(x, 0.4, generator=gen(11))
    second = dropout(x, 0.4, generator=gen(11))
    assert torch.equal(first, second)
    assert torch.equal(first != 0, keep_mask(x.shape, 0.4, generator=gen(11)))
    assert not torch.equal(first, dropout(x, 0.4, generator=gen(12)))


def test_default_generator_follows_manual_seed():
    x = torch.randn(1000)
    torch.manual_seed(4)
    a = dropout(x, 0.5)
    torch.manual_seed(4)
    assert torch.equal(a, dropout(x, 0.5))


def test_eval_and_p_zero_return_the_input_object():
    x = torch.randn(5, 5)
    layer = Dropout(0.5)
    assert layer.eval()(x) is x
    assert Dropout(0.0)(x) is x
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x


def test_p_one_gives_zeros_and_zero_gradient():
    x = torch.randn(4, 6, requires_grad=True)
    out = dropout(x, 1.0)
    assert torch.equal(out, torch.zeros(4, 6))
    out.sum().backward()
    assert torch.equal(x.grad, torch.zeros(4, 6))


def test_inplace_writes_into_the_input_with_the_same_values():
    base = torch.randn(50, 40)
    expected = dropout(base, 0.3, generator=gen(2))
    x = base.clone()
    out = dropout(x, 0.3, inplace=True, generator=gen(2))
    assert out is x and torch.equal(x, expected)
    # Non-contiguous input: still in place, same values.
    y = base.clone().t()
    out = dropout(y, 0.3, inplace=True, generator=gen(2))
    assert out is y and torch.equal(y, dropout(base.t().contiguous(), 0.3, generator=gen(2)))


def test_inplace_in_the_middle_of_a_graph_has_the_right_gradient():
    w = torch.randn(30, requires_grad=True)
    h = w * 2.0
    out = Dropout(0.5, inplace=True, generator=gen(9))(h)
    out.sum().backward()
    mask = keep_mask((30,), 0.5, generator=gen(9))
    torch.testing.assert_close(w.grad, 2.0 * 2.0 * mask.float())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtype_and_device_are_kept(dtype):
    x = torch.randn(16, 8).to(dtype)
    out = dropout(x, 0.5, generator=gen(0))
    assert out.dtype == dtype and out.device == x.device and out.shape == x.shape
    kept = out != 0
    torch.testing.assert_close(out[kept], (x[kept].double() * 2.0).to(dtype))


def test_saves_at_most_one_byte_per_element_for_backward():
    x = torch.randn(256, 256, requires_grad=True)
    assert saved_bytes(lambda t: dropout(t, 0.5), x) <= x.numel()
    assert saved_bytes(lambda t: F.dropout(t, 0.5), x) >= 4 * x.numel()  # what torch keeps on the CPU


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.5", None, True])
def test_bad_p_is_rejected_at_construction_and_call(bad):
    message = f"Invalid value received for argument `p`. Expected a float between 0 and 1. Received: p={bad!r}"
    with pytest.raises(InvalidArgumentError) as info:
        Dropout(bad)
    assert str(info.value) == message
    with pytest.raises(InvalidArgumentError):
        dropout(torch.ones(3), bad)


def test_other_bad_arguments():
    with pytest.raises(InvalidArgumentError, match="argument `inplace`"):
        Dropout(0.5, inplace="yes")
    with pytest.raises(InvalidArgumentError, match="argument `generator`"):
        Dropout(0.5, generator=42)


def test_extra_repr():
    assert repr(Dropout(0.25)) == "Dropout(p=0.25, inplace=False)"


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(0, 7), min_size=0, max_size=4),
    p=st.floats(0.0, 1.0),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.bfloat16]),
    seed=st.integers(0, 2**31),
)
def test_property_every_element_is_dropped_or_scaled(shape, p, dtype, seed):
    x = (torch.rand(shape, generator=gen(seed)) + 0.5).to(dtype)
    out = dropout(x, p, generator=gen(seed))
    assert out.shape == x.shape and out.dtype == dtype
    if p == 0.0:
        assert out is x
        return
    if p == 1.0:
        assert torch.all(out == 0)
        return
    kept = out != 0
    torch.testing.assert_close(
        out[kept], (x[kept].double() / (1.0 - p)).to(dtype), rtol=1e-2 if dtype == torch.bfloat16 else 1e-6, atol=0
    )


@needs_cuda
def test_cuda_device_dtype_and_generator():
    x = torch.randn(1000, 100, device="cuda")
    a = dropout(x, 0.3, generator=gen(0, "cuda"))
    b = dropout(x, 0.3, generator=gen(0, "cuda"))
    assert a.device == x.device and torch.equal(a, b)
    keep = (a != 0).double().mean().item()
    assert abs(keep - 0.7) < K * math.sqrt(0.21 / x.numel())


def test_large_cpu_path_forward_backward_and_inplace_match_the_mask():
    shape = (5, CPU_CHUNK // 2 + 7)  # above one chunk: the chunked path
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(shape, dtype=torch.float64)
    out = dropout(x, 0.3, generator=gen(8))
    out.backward(upstream)
    mask = keep_mask(shape, 0.3, generator=gen(8))
    scale = 1.0 / 0.7
    assert torch.equal(out, x.detach() * mask * scale)
    assert torch.equal(x.grad, upstream * scale * mask)
    assert saved_bytes(lambda t: dropout(t, 0.3), x) <= x.numel()
    for base in (torch.randn(shape), torch.randn(shape[::-1]).t()):  # contiguous, then not
        y = base.clone()
        expected = base * keep_mask(shape, 0.3, generator=gen(8)) * (1.0 / 0.7)
        assert dropout(y, 0.3, inplace=True, generator=gen(8)) is y
        torch.testing.assert_close(y, expected, rtol=0, atol=0)


@pytest.mark.parametrize("n", [1000, (1 << 18) + 5])  # one draw, then chunked
def test_p_just_below_one_drops_everything_without_overflow(monkeypatch, n):
    # round(p * 2**32) == 2**32 here: no 32-bit draw reaches the threshold.
    p = 1.0 - 2.0**-40
    x = torch.ones(n)
    assert keep_mask((n,), p).sum().item() == 0
    assert dropout(x, p).abs().sum().item() == 0.0
    # The smallest p that still keeps something, 1 - 2**-32, has the threshold
    # 2**32 - 1: it keeps exactly the draws U = 2**32 - 1, one value of the
    # 2**32, so at the rate 2**-32, and scales them by 2**32. A real draw hits
    # that value once in 4 billion, so the words are given: U = 2**32 - 1 among
    # its neighbours and the bottom of the range (U = w + 2**31 for an int32 w).
    assert masks.threshold(1.0 - 2.0**-32) == 2**32 - 1
    top = 2**31 - 1  # U = 2**32 - 1
    pattern = torch.tensor([top, top - 1, -(2**31), 0, -1, top - 2, top], dtype=torch.int32)

    def given_words(count, device, generator):  # each call (each chunk) starts the pattern again
        return pattern[torch.arange(2 * count) % len(pattern)].view(torch.int64)

    monkeypatch.setattr(masks, "_random_words", given_words)
    words = pattern[(torch.arange(n) % masks.CPU_CHUNK) % len(pattern)]
    expected = words == top
    assert torch.equal(keep_mask((n,), 1.0 - 2.0**-32), expected)
    torch.testing.assert_close(dropout(x, 1.0 - 2.0**-32), expected.float() * 2.0**32, rtol=0, atol=0)


# --- noise_shape: one mask value broadcast over the input (Keras' convention) ---


@pytest.mark.parametrize(
    "shape, noise_shape, mask_shape",
    [
        ((4, 3, 5, 6), (None, None, 1, 1), (4, 3, 1, 1)),
        ((7, 4, 9), (1, 4, None), (1, 4, 9)),
        ((6, 8), [1, 8], (1, 8)),
        ((5, 2, 3), (1, 1, 1), (1, 1, 1)),
    ],
)
def test_noise_shape_broadcasts_the_keep_mask_of_that_shape(shape, noise_shape, mask_shape):
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(shape, dtype=torch.float64)
    out = dropout(x, 0.4, noise_shape=noise_shape, generator=gen(6))
    out.backward(upstream)
    mask = keep_mask(mask_shape, 0.4, generator=gen(6)).double()
    scale = 1.0 / 0.6
    # Closed form in float64, forward and backward: the same mask on both.
    torch.testing.assert_close(out, x.detach() * mask * scale, rtol=0, atol=0)
    torch.testing.assert_close(x.grad, upstream * mask * scale, rtol=0, atol=0)
    # Only the mask is kept for backward (scaled, in x's dtype when smaller than x), never x itself.
    saved = saved_bytes(lambda t: dropout(t, 0.4, noise_shape=noise_shape), x)
    assert saved <= mask.numel() * (1 if mask.shape == x.shape else x.element_size())


def test_noise_shape_equal_to_the_input_shape_is_plain_dropout():
    x = torch.randn(30, 40)
    plain = dropout(x, 0.3, generator=gen(4))
    assert torch.equal(dropout(x, 0.3, noise_shape=(None, 40), generator=gen(4)), plain)
    assert torch.equal(Dropout(0.3, noise_shape=(30, None), generator=gen(4))(x), plain)


def test_noise_shape_module_inplace_eval_and_p_zero():
    x = torch.randn(3, 4, 5)
    layer = Dropout(0.5, inplace=True, noise_shape=(None, None, 1), generator=gen(1))
    expected = x * keep_mask((3, 4, 1), 0.5, generator=gen(1)) * 2.0
    y = x.clone()
    assert layer(y) is y and torch.equal(y, expected)
    assert layer.eval()(x) is x
    assert Dropout(0.0, noise_shape=(1, 1, 1))(x) is x
    assert dropout(x, 0.5, training=False, noise_shape=(1, 1, 1)) is x
    assert torch.equal(dropout(x, 1.0, noise_shape=(1, 4, 1)), torch.zeros(3, 4, 5))


def test_noise_shape_keep_rate_is_per_mask_value():
    # (N, C, 1): every row of a (sample, channel) is all kept or all dropped,
    # and the fraction of kept rows is binomial(N*C, 1-p).
    n, c, length, p = 400, 250, 8, 0.3
    out = dropout(torch.ones(n, c, length), p, noise_shape=(n, c, 1), generator=gen(13))
    rows = out != 0
    assert torch.equal(rows.all(-1), rows.any(-1))
    rate = rows[..., 0].double().mean().item()
    assert abs(rate - (1 - p)) < K * math.sqrt(p * (1 - p) / (n * c))


@pytest.mark.parametrize("bad", [(2, 3, 4), (4, 1), (4, 2, 1, 1), "abc", 5, (4, -1, 1), (4.0, 1, 1), (True, 1, 1)])
def test_bad_noise_shape_is_one_sentence(bad):
    x = torch.ones(4, 3, 2)
    with pytest.raises(InvalidArgumentError) as info:
        dropout(x, 0.5, noise_shape=bad)
    assert str(info.value).startswith("Invalid value received for argument `noise_shape`. Expected ")
    assert str(info.value).endswith(f"Received: noise_shape={tuple(bad) if isinstance(bad, list) else bad!r}")


def test_noise_shape_of_wrong_kind_is_rejected_at_construction():
    message = (
        "Invalid value received for argument `noise_shape`. Expected None or a sequence of integers >= 0 or None,"
        " one per dimension of the input. Received: noise_shape=(2, -1)"
    )
    with pytest.raises(InvalidArgumentError) as info:
        Dropout(0.5, noise_shape=(2, -1))
    assert str(info.value) == message


def test_noise_shape_that_does_not_fit_the_input_names_the_input_shape():
    layer = Dropout(0.5, noise_shape=(None, 2))
    with pytest.raises(InvalidArgumentError) as info:
        layer(torch.ones(4, 3))
    assert str(info.value) == (
        "Invalid value received for argument `noise_shape`. Expected a sequence of 2 entries, each None, 1 or the"
        " input's size in (4, 3). Received: noise_shape=(None, 2)"
    )


def test_noise_shape_extra_repr():
    assert repr(Dropout(0.25, noise_shape=[1, None])) == "Dropout(p=0.25, inplace=False, noise_shape=(1, None))"


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    data=st.data(),
    p=st.floats(0.0, 0.95),
    seed=st.integers(0, 2**31),
)
def test_property_noise_shape_output_is_x_times_broadcast_mask(shape, data, p, seed):
    noise_shape = tuple(data.draw(st.sampled_from([n, 1, None])) for n in shape)
    x = torch.rand(shape, dtype=torch.float64, generator=gen(seed)) + 0.5
    out = dropout(x, p, noise_shape=noise_shape, generator=gen(seed))
    mask_shape = tuple(n if d is None else d for d, n in zip(noise_shape, shape))
    mask = keep_mask(mask_shape, p, generator=gen(seed))
    if p == 0.0:
        assert out is x
        return
    torch.testing.assert_close(out, x * mask * (1.0 / (1.0 - p)), rtol=0, atol=0)


@pytest.mark.parametrize(
    "x, shown",
    [
        ([1.0, 2.0], "[1.0, 2.0]"),
        (torch.ones(2, 3, dtype=torch.int64), "<2-D torch.int64 tensor of shape (2, 3)>"),
        (torch.ones(4, dtype=torch.bool), "<1-D torch.bool tensor of shape (4,)>"),
    ],
)
def test_an_input_that_is_not_a_float_tensor_gets_the_one_sentence(x, shown):
    expected = f"Invalid value received for argument `x`. Expected a floating-point tensor. Received: x={shown}"
    for call in (lambda: dropout(x, 0.5), lambda: Dropout(0.5)(x), lambda: Dropout(0.5).eval()(x)):
        with pytest.raises(InvalidArgumentError) as info:
            call()
        assert str(info.value) == expected


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (8, 64, 32, 32)], ids=["small", "above the CPU chunk"])
@pytest.mark.parametrize("inplace", [False, True])
def test_channels_last_is_kept_at_every_size_with_the_same_mask(shape, inplace):
    x = torch.randn(*shape).to(memory_format=torch.channels_last)
    y = dropout(x.clone(memory_format=torch.preserve_format), 0.5, inplace=inplace, generator=gen(4))
    reference = dropout(x.contiguous(), 0.5, generator=gen(4))
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y, reference)
