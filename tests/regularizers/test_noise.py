"""reglab.regularizers.noise: Gaussian dropout, Gaussian noise and alpha dropout.

Alpha dropout is compared with torch.nn.functional.alpha_dropout and
feature_alpha_dropout given the same mask (float64, values and gradients) and
with its closed-form constants. Statistical checks use k = 5 standard errors of
the sample mean and variance, from the output's own distribution, fixed seeds.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import reglab.regularizers.noise as rn
from reglab.core.errors import InvalidArgumentError
from reglab.regularizers.masks import keep_mask
from reglab.regularizers.noise import (
    SELU_ALPHA_PRIME,
    AlphaDropout,
    FeatureAlphaDropout,
    GaussianDropout,
    GaussianNoise,
    alpha_affine,
    alpha_dropout,
    feature_alpha_dropout,
    gaussian_dropout,
    gaussian_noise,
)
from tests.helpers import K, forward_and_grad, gen, needs_cuda

N = 10**6


def _normal_moments_se(var: float, n: int) -> tuple[float, float]:
    """Standard errors of the sample mean and sample variance of n normal draws of variance var."""
    return math.sqrt(var / n), var * math.sqrt(2.0 / (n - 1))


# --- Gaussian dropout ---------------------------------------------------------


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_gaussian_dropout_mean_is_x_and_variance_is_x_squared_p_over_one_minus_p(p):
    c = -1.5
    out = gaussian_dropout(torch.full((N,), c, dtype=torch.float64), p, generator=gen(1))
    var = c * c * p / (1 - p)
    se_mean, se_var = _normal_moments_se(var, N)
    assert abs(out.mean().item() - c) < K * se_mean
    assert abs(out.var().item() - var) < K * se_var


def test_gaussian_dropout_is_x_times_one_plus_std_randn_and_its_gradient():
    x = torch.randn(30, 20, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(30, 20, dtype=torch.float64)
    out = gaussian_dropout(x, 0.3, generator=gen(4))
    out.backward(upstream)
    eps = torch.randn(30, 20, dtype=torch.float64, generator=gen(4))
    factor = 1 + math.sqrt(0.3 / 0.7) * eps
    torch.testing.assert_close(out, x.detach() * factor, rtol=1e-15, atol=0)
    torch.testing.assert_close(x.grad, upstream * factor, rtol=1e-15, atol=0)


def test_gaussian_dropout_module_eval_p_zero_generator_and_repr():
    x = torch.randn(8, 8)
    assert GaussianDropout(0.5).eval()(x) is x
    assert GaussianDropout(0.0)(x) is x
    assert gaussian_dropout(x, 0.5, training=False) is x
    assert torch.equal(GaussianDropout(0.5, generator=gen(3))(x), gaussian_dropout(x, 0.5, generator=gen(3)))
    assert not torch.equal(gaussian_dropout(x, 0.5, generator=gen(3)), gaussian_dropout(x, 0.5, generator=gen(4)))
    assert repr(GaussianDropout(0.2)) == "GaussianDropout(p=0.2)"


# --- Gaussian noise -----------------------------------------------------------


@pytest.mark.parametrize("std", [0.1, 2.0])
def test_gaussian_noise_mean_is_x_and_variance_is_std_squared(std):
    out = gaussian_noise(torch.full((N,), 0.7, dtype=torch.float64), std, generator=gen(2))
    se_mean, se_var = _normal_moments_se(std * std, N)
    assert abs(out.mean().item() - 0.7) < K * se_mean
    assert abs(out.var().item() - std * std) < K * se_var


def test_gaussian_noise_closed_form_gradient_eval_and_std_zero():
    x = torch.randn(10, 3, dtype=torch.float64, requires_grad=True)
    out = GaussianNoise(0.5, generator=gen(6))(x)
    out.backward(torch.full_like(out, 2.0))
    torch.testing.assert_close(
        out, x.detach() + 0.5 * torch.randn(10, 3, dtype=torch.float64, generator=gen(6)), rtol=1e-15, atol=0
    )
    assert torch.equal(x.grad, torch.full_like(x, 2.0))  # additive noise: the gradient passes unchanged
    y = torch.randn(4)
    assert GaussianNoise(0.5).eval()(y) is y
    assert GaussianNoise(0.0)(y) is y
    assert gaussian_noise(y, 0.5, training=False) is y
    assert repr(GaussianNoise(0.25)) == "GaussianNoise(std=0.25)"


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "1", None, True])
def test_bad_std_is_one_sentence(bad):
    with pytest.raises(InvalidArgumentError) as info:
        GaussianNoise(bad)
    assert str(info.value) == f"Invalid value received for argument `std`. Expected a float >= 0. Received: std={bad!r}"


# --- alpha dropout ------------------------------------------------------------


def _torch_alpha_mask(out: torch.Tensor, p: float) -> torch.Tensor:
    """torch's keep mask, read from its output: dropped units all equal a*alpha' + b."""
    a, b = alpha_affine(p)
    return (out.detach() - (a * SELU_ALPHA_PRIME + b)).abs() > 1e-9


def test_alpha_constants_are_the_closed_form():
    # SELU's saturation: lim selu(x), x -> -inf, is -lambda*alpha.
    saturation = F.selu(torch.tensor(-50.0, dtype=torch.float64)).item()
    assert saturation == pytest.approx(SELU_ALPHA_PRIME, abs=1e-15)
    for p in (0.05, 0.3, 0.5):
        a, b = alpha_affine(p)
        assert a == pytest.approx(((1 - p) * (1 + p * SELU_ALPHA_PRIME**2)) ** -0.5, rel=1e-15)
        assert b == pytest.approx(-a * SELU_ALPHA_PRIME * p, rel=1e-15)
        # mean 0 and variance 1 of a*x'+b for x ~ N(0, 1), exactly:
        # E[x'] = p*alpha', E[x'^2] = (1-p) + p*alpha'^2.
        mean = a * p * SELU_ALPHA_PRIME + b
        second = a * a * ((1 - p) + p * SELU_ALPHA_PRIME**2) + 2 * a * b * p * SELU_ALPHA_PRIME + b * b
        assert mean == pytest.approx(0.0, abs=1e-15)
        assert second - mean**2 == pytest.approx(1.0, rel=1e-14)


@pytest.mark.parametrize("p", [0.1, 0.5])
@pytest.mark.parametrize("feature", [False, True])
def test_alpha_dropout_equals_torch_given_the_same_mask(monkeypatch, p, feature):
    shape = (5, 4, 6, 3) if feature else (64, 33)
    torch.manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64)
    upstream = torch.randn(shape, dtype=torch.float64)
    torch.manual_seed(1)
    torch_fn = F.feature_alpha_dropout if feature else F.alpha_dropout
    expected, expected_grad = forward_and_grad(lambda t: torch_fn(t, p, training=True), x, upstream)
    mask = _torch_alpha_mask(expected, p)
    if feature:
        flat = mask.flatten(2)
        assert torch.equal(flat.all(-1), flat.any(-1))  # torch drops whole (sample, channel) maps
        mask = flat[..., 0]
    monkeypatch.setattr(rn, "draw_keep_mask", lambda s, p_, device, generator: mask.reshape(s))
    fn = feature_alpha_dropout if feature else alpha_dropout
    actual, actual_grad = forward_and_grad(lambda t: fn(t, p), x, upstream)
    torch.testing.assert_close(actual, expected, rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(actual_grad, expected_grad, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5])
def test_alpha_dropout_keeps_mean_zero_and_variance_one_of_standard_normal_input(p):
    x = torch.randn(N, dtype=torch.float64, generator=gen(10))
    out = alpha_dropout(x, p, generator=gen(11))
    a, b = alpha_affine(p)
    # Output: a*x+b (x ~ N(0,1)) with probability 1-p, else a*alpha'+b; mean 0, variance 1.
    fourth = (1 - p) * (3 * a**4 + 6 * a**2 * b**2 + b**4) + p * (a * SELU_ALPHA_PRIME + b) ** 4
    se_mean, se_var = math.sqrt(1.0 / N), math.sqrt((fourth - 1.0) / N)
    assert abs(out.mean().item()) < K * se_mean
    assert abs(out.var().item() - 1.0) < K * se_var
    # Inverted dropout would not: its variance is 1/(1-p).
    assert abs(F.dropout(x, p).var().item() - 1.0) > K * se_var


def test_alpha_dropout_mask_is_keep_mask_and_feature_mask_is_per_channel():
    x = torch.randn(6, 5, 4, dtype=torch.float64)
    a, b = alpha_affine(0.4)
    keep = keep_mask(x.shape, 0.4, generator=gen(7))
    expected = torch.where(keep, a * x + b, a * SELU_ALPHA_PRIME + b)
    torch.testing.assert_close(alpha_dropout(x, 0.4, generator=gen(7)), expected, rtol=1e-15, atol=0)
    keep = keep_mask((6, 5, 1), 0.4, generator=gen(7))
    expected = torch.where(keep, a * x + b, a * SELU_ALPHA_PRIME + b)
    torch.testing.assert_close(feature_alpha_dropout(x, 0.4, generator=gen(7)), expected, rtol=1e-15, atol=0)
    torch.testing.assert_close(FeatureAlphaDropout(0.4, generator=gen(7))(x), expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("fn, module", [(alpha_dropout, AlphaDropout), (feature_alpha_dropout, FeatureAlphaDropout)])
def test_alpha_eval_p_zero_inplace_and_repr(fn, module):
    x = torch.randn(4, 3, 5)
    assert module(0.5).eval()(x) is x
    assert module(0.0)(x) is x
    assert fn(x, 0.5, training=False) is x
    y = x.clone()
    expected = fn(x, 0.3, generator=gen(8))
    assert module(0.3, inplace=True, generator=gen(8))(y) is y
    torch.testing.assert_close(y, expected, rtol=1e-6, atol=1e-7)
    assert repr(module(0.1)) == f"{module.__name__}(p=0.1, inplace=False)"


@pytest.mark.parametrize(
    "factory",
    [
        lambda p: GaussianDropout(p),
        lambda p: AlphaDropout(p),
        lambda p: FeatureAlphaDropout(p),
        lambda p: gaussian_dropout(torch.ones(3), p),
        lambda p: alpha_dropout(torch.ones(3), p),
        lambda p: feature_alpha_dropout(torch.ones(3, 3), p),
    ],
)
@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1, float("nan"), "0.5"])
def test_p_one_and_other_bad_p_are_rejected_where_meaningless(factory, bad):
    with pytest.raises(InvalidArgumentError) as info:
        factory(bad)
    assert (
        str(info.value) == f"Invalid value received for argument `p`. Expected a float in [0, 1). Received: p={bad!r}"
    )


def test_feature_alpha_dropout_needs_a_channel_dimension():
    message = (
        "Invalid value received for argument `x`. Expected a tensor of shape (N, C, *) with at least 2 dimensions."
        " Received: x=<1-D tensor of shape (7,)>"
    )
    for call in (
        lambda: feature_alpha_dropout(torch.ones(7), 0.5),
        lambda: FeatureAlphaDropout(0.5).eval()(torch.ones(7)),
    ):
        with pytest.raises(InvalidArgumentError) as info:
            call()
        assert str(info.value) == message


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtype_and_device_are_kept_by_every_noise(dtype):
    x = torch.randn(6, 4, 3).to(dtype)
    for out in (
        gaussian_dropout(x, 0.5, generator=gen(0)),
        gaussian_noise(x, 0.5, generator=gen(0)),
        alpha_dropout(x, 0.5, generator=gen(0)),
        feature_alpha_dropout(x, 0.5, generator=gen(0)),
    ):
        assert out.dtype == dtype and out.device == x.device and out.shape == x.shape


def test_other_bad_arguments():
    with pytest.raises(InvalidArgumentError, match="argument `generator`"):
        GaussianNoise(0.1, generator=1)
    with pytest.raises(InvalidArgumentError, match="argument `inplace`"):
        AlphaDropout(0.1, inplace="no")
    with pytest.raises(InvalidArgumentError, match="argument `training`"):
        gaussian_dropout(torch.ones(2), 0.1, training=None)


@needs_cuda
def test_cuda_noise_and_masks_follow_the_generator():
    x = torch.randn(1000, 10, device="cuda")
    for fn, arg in ((gaussian_dropout, 0.3), (gaussian_noise, 0.3), (alpha_dropout, 0.3), (feature_alpha_dropout, 0.3)):
        a = fn(x, arg, generator=gen(0, "cuda"))
        assert a.device == x.device and torch.equal(a, fn(x, arg, generator=gen(0, "cuda")))
