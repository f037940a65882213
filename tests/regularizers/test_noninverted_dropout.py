"""reglab.regularizers.noninverted_dropout: non-inverted dropout, equal in expectation to inverted dropout.

Tolerances are k = 5 standard errors of the binomial distribution involved.
"""

from __future__ import annotations

import math

import pytest
import torch

from reglab.core.errors import InvalidArgumentError
from reglab.regularizers.inverted_dropout import dropout
from reglab.regularizers.masks import CPU_CHUNK, keep_mask
from reglab.regularizers.noninverted_dropout import VanillaDropout, vanilla_dropout
from tests.helpers import K, gen, needs_cuda, saved_bytes


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_training_mean_equals_eval_output(p):
    n = 1 << 20
    x = torch.full((n,), 2.5, dtype=torch.float64)
    train = vanilla_dropout(x, p, generator=gen(3))
    evaluated = vanilla_dropout(x, p, training=False)
    torch.testing.assert_close(evaluated, (1.0 - p) * x, rtol=0, atol=0)
    # Each training output is 2.5 with probability 1-p, else 0: variance 2.5² p(1-p).
    se = 2.5 * math.sqrt(p * (1.0 - p) / n)
    assert abs(train.mean().item() - evaluated[0].item()) < K * se


@pytest.mark.parametrize("shape", [(40, 50), (3, CPU_CHUNK // 2 + 11)])  # one draw, then chunked
def test_same_mask_as_inverted_dropout_for_the_same_generator_state(shape):
    x = torch.randn(shape, dtype=torch.float64)
    p = 0.35
    vanilla = vanilla_dropout(x, p, generator=gen(7))
    inverted = dropout(x, p, generator=gen(7))
    mask = keep_mask(shape, p, generator=gen(7))
    assert torch.equal(vanilla, x * mask)  # unscaled survivors, exact zeros
    torch.testing.assert_close(vanilla / (1.0 - p), inverted, rtol=1e-15, atol=0)


def test_gradient_is_the_mask_in_training_and_one_minus_p_in_eval():
    x = torch.randn(20, 30, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(20, 30, dtype=torch.float64)
    vanilla_dropout(x, 0.3, generator=gen(2)).backward(upstream)
    mask = keep_mask((20, 30), 0.3, generator=gen(2))
    assert torch.equal(x.grad, upstream * mask)
    x.grad = None
    layer = VanillaDropout(0.3).eval()
    layer(x).backward(upstream)
    torch.testing.assert_close(x.grad, upstream * 0.7, rtol=0, atol=0)


def test_eval_is_not_the_identity_except_at_p_zero():
    x = torch.randn(5, 5)
    layer = VanillaDropout(0.25).eval()
    out = layer(x)
    assert out is not x
    torch.testing.assert_close(out, x * 0.75, rtol=0, atol=0)
    assert VanillaDropout(0.0)(x) is x
    assert VanillaDropout(0.0).eval()(x) is x
    assert vanilla_dropout(x, 0.0, training=False) is x


def test_p_one_gives_zeros_in_training_and_in_eval():
    x = torch.randn(4, 6, requires_grad=True)
    assert torch.equal(vanilla_dropout(x, 1.0), torch.zeros(4, 6))
    assert torch.equal(vanilla_dropout(x, 1.0, training=False), torch.zeros(4, 6))


def test_inplace_training_and_eval():
    base = torch.randn(10, 10)
    y = base.clone()
    assert vanilla_dropout(y, 0.5, inplace=True, generator=gen(1)) is y
    assert torch.equal(y, base * keep_mask((10, 10), 0.5, generator=gen(1)))
    z = base.clone()
    layer = VanillaDropout(0.5, inplace=True).eval()
    assert layer(z) is z and torch.equal(z, base * 0.5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtype_and_device_are_kept(dtype):
    x = torch.randn(16, 8).to(dtype)
    for training in (True, False):
        out = vanilla_dropout(x, 0.5, training, generator=gen(0))
        assert out.dtype == dtype and out.device == x.device and out.shape == x.shape


def test_same_generator_state_same_output():
    x = torch.randn(100)
    assert torch.equal(VanillaDropout(0.5, generator=gen(5))(x), VanillaDropout(0.5, generator=gen(5))(x))


def test_saves_at_most_one_byte_per_element_for_backward():
    x = torch.randn(64, 64, requires_grad=True)
    assert saved_bytes(lambda t: vanilla_dropout(t, 0.5), x) <= x.numel()


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.5", None, True])
def test_bad_p_is_one_sentence(bad):
    message = f"Invalid value received for argument `p`. Expected a float between 0 and 1. Received: p={bad!r}"
    with pytest.raises(InvalidArgumentError) as info:
        VanillaDropout(bad)
    assert str(info.value) == message
    with pytest.raises(InvalidArgumentError, match="argument `p`"):
        vanilla_dropout(torch.ones(3), bad)


def test_other_bad_arguments_and_repr():
    with pytest.raises(InvalidArgumentError, match="argument `inplace`"):
        VanillaDropout(0.5, inplace=1)
    with pytest.raises(InvalidArgumentError, match="argument `generator`"):
        VanillaDropout(0.5, generator=3)
    with pytest.raises(InvalidArgumentError, match="argument `training`"):
        vanilla_dropout(torch.ones(3), 0.5, training="no")
    assert repr(VanillaDropout(0.3)) == "VanillaDropout(p=0.3, inplace=False)"


@needs_cuda
def test_cuda_same_mask_as_dropout():
    x = torch.randn(1000, 100, device="cuda")
    a = vanilla_dropout(x, 0.3, generator=gen(0, "cuda"))
    b = dropout(x, 0.3, generator=gen(0, "cuda"))
    assert a.device == x.device and torch.equal(a != 0, b != 0)
