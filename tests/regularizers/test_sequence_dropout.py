"""reglab.regularizers.sequence_dropout: locked (variational) dropout, one mask for every time step."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from reglab.core.errors import InvalidArgumentError
from reglab.regularizers.inverted_dropout import dropout
from reglab.regularizers.masks import keep_mask
from reglab.regularizers.sequence_dropout import LockedDropout, locked_dropout
from tests.helpers import K, gen, needs_cuda


@pytest.mark.parametrize("batch_first", [False, True])
def test_forward_and_backward_are_x_times_one_mask_per_sample_and_feature(batch_first):
    t, n, f, p = 9, 4, 6, 0.3
    shape = (n, t, f) if batch_first else (t, n, f)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(shape, dtype=torch.float64)
    out = locked_dropout(x, p, batch_first=batch_first, generator=gen(1))
    out.backward(upstream)
    mask_shape = (n, 1, f) if batch_first else (1, n, f)
    mask = keep_mask(mask_shape, p, generator=gen(1)).double()
    torch.testing.assert_close(out, x.detach() * mask / (1 - p), rtol=1e-15, atol=0)
    torch.testing.assert_close(x.grad, upstream * mask / (1 - p), rtol=1e-15, atol=0)
    # The same as dropout with Keras' noise_shape.
    noise_shape = (None, 1, None) if batch_first else (1, None, None)
    assert torch.equal(out, dropout(x, p, noise_shape=noise_shape, generator=gen(1)))


def test_every_time_step_shares_the_mask_and_the_keep_rate_is_one_minus_p():
    t, n, f, p = 12, 300, 300, 0.25
    out = locked_dropout(torch.ones(t, n, f), p, generator=gen(2))
    kept = out != 0
    assert torch.equal(kept, kept[:1].expand_as(kept))
    rate = kept[0].double().mean().item()
    assert abs(rate - (1 - p)) < K * math.sqrt(p * (1 - p) / (n * f))
    # Unlike per-element dropout, where time steps disagree.
    plain = dropout(torch.ones(t, n, f), p, generator=gen(2)) != 0
    assert not torch.equal(plain, plain[:1].expand_as(plain))


def test_module_with_an_lstm_batch_first():
    torch.manual_seed(0)
    lstm = nn.LSTM(5, 7, batch_first=True)
    x = torch.randn(3, 10, 5)
    drop = LockedDropout(0.5, batch_first=True, generator=gen(3))
    h, _ = lstm(x)
    out = drop(h)
    assert out.shape == (3, 10, 7)
    zeros = out == 0
    assert torch.equal(zeros, zeros[:, :1].expand_as(zeros))


def test_eval_p_zero_p_one_inplace_and_repr():
    x = torch.randn(5, 3, 4)
    assert LockedDropout(0.5).eval()(x) is x
    assert LockedDropout(0.0)(x) is x
    assert locked_dropout(x, 0.5, training=False) is x
    assert torch.equal(locked_dropout(x, 1.0), torch.zeros(5, 3, 4))
    y = x.clone()
    expected = locked_dropout(x, 0.4, generator=gen(5))
    assert LockedDropout(0.4, inplace=True, generator=gen(5))(y) is y and torch.equal(y, expected)
    assert repr(LockedDropout(0.2, batch_first=True)) == "LockedDropout(p=0.2, batch_first=True, inplace=False)"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtype_and_device_are_kept(dtype):
    x = torch.randn(4, 3, 2).to(dtype)
    out = locked_dropout(x, 0.5, generator=gen(0))
    assert out.dtype == dtype and out.device == x.device and out.shape == x.shape


@pytest.mark.parametrize("batch_first, layout", [(False, "(T, N, F)"), (True, "(N, T, F)")])
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4, 5)])
def test_wrong_number_of_dimensions_is_one_sentence(batch_first, layout, shape):
    message = (
        f"Invalid value received for argument `x`. Expected a 3-D {layout} tensor."
        f" Received: x=<{len(shape)}-D tensor of shape {shape}>"
    )
    for call in (
        lambda: locked_dropout(torch.ones(shape), 0.5, batch_first=batch_first),
        lambda: LockedDropout(0.5, batch_first=batch_first).eval()(torch.ones(shape)),
    ):
        with pytest.raises(InvalidArgumentError) as info:
            call()
        assert str(info.value) == message


def test_bad_arguments():
    with pytest.raises(InvalidArgumentError) as info:
        LockedDropout(1.5)
    assert (
        str(info.value) == "Invalid value received for argument `p`. Expected a float between 0 and 1. Received: p=1.5"
    )
    with pytest.raises(InvalidArgumentError, match="argument `batch_first`"):
        LockedDropout(0.5, batch_first=1)
    with pytest.raises(InvalidArgumentError, match="argument `batch_first`"):
        locked_dropout(torch.ones(2, 2, 2), 0.5, batch_first="yes")
    with pytest.raises(InvalidArgumentError, match="argument `generator`"):
        LockedDropout(0.5, generator=0)


@needs_cuda
def test_cuda_generator_reproducible():
    x = torch.randn(20, 8, 16, device="cuda")
    a = locked_dropout(x, 0.3, generator=gen(0, "cuda"))
    assert a.device == x.device and torch.equal(a, locked_dropout(x, 0.3, generator=gen(0, "cuda")))
