"""drop_path / DropPath (stochastic depth) against timm's formula and its statistical contract.

Tolerances are k = 5 standard errors of the binomial distribution of the
per-sample Bernoulli draws, with fixed seeds.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reglab.core.errors import InvalidArgumentError
from reglab.regularizers.masks import keep_mask
from reglab.regularizers.stochastic_depth import DropPath, drop_path
from tests.helpers import K, forward_and_grad, gen, needs_cuda


def _timm_drop_path(x: torch.Tensor, keep: torch.Tensor, p: float, scale_by_keep: bool) -> torch.Tensor:
    """timm.layers.drop.drop_path, with the Bernoulli draw replaced by ``keep``."""
    keep_prob = 1 - p
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    random_tensor = keep.to(x.dtype).reshape(shape)
    if keep_prob > 0.0 and scale_by_keep:
        random_tensor = random_tensor.div(keep_prob)
    return x * random_tensor


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("scale_by_keep", [True, False])
def test_drop_path_equals_timm_formula_forward_and_backward(p, scale_by_keep):
    x = torch.randn(64, 3, 5, dtype=torch.float64, generator=gen(1))
    upstream = torch.randn(64, 3, 5, dtype=torch.float64, generator=gen(2))
    keep = keep_mask((64,), p, generator=gen(7))
    out, grad = forward_and_grad(
        lambda t: drop_path(t, p, True, scale_by_keep=scale_by_keep, generator=gen(7)), x, upstream
    )
    expected, expected_grad = forward_and_grad(lambda t: _timm_drop_path(t, keep, p, scale_by_keep), x, upstream)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=0)
    assert torch.isfinite(out).all()


def test_drop_path_decides_per_sample():
    out = drop_path(torch.ones(4096, 2, 3), 0.3, True, generator=gen(3))
    per_sample = out.flatten(1)
    # Every sample is entirely dropped or entirely kept (and scaled).
    assert ((per_sample == 0).all(1) | (per_sample == 1 / 0.7).all(1)).all()


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_drop_path_keep_rate_is_binomial(p):
    n = 1 << 16
    out = drop_path(torch.ones(n, 1), p, True, generator=gen(11))
    kept = (out != 0).double().mean().item()
    assert abs(kept - (1 - p)) < K * math.sqrt(p * (1 - p) / n)


def test_drop_path_is_identity_at_p0_and_in_eval():
    x = torch.randn(5, 3)
    assert drop_path(x, 0.0, True) is x
    assert drop_path(x, 0.5, False) is x
    assert drop_path(x, 0.5, training=False) is x
    m = DropPath(0.5)
    m.eval()
    assert m(x) is x
    assert DropPath(0.0)(x) is x


def test_drop_path_generator_reproducible_and_module_matches_function():
    x = torch.randn(256, 4)
    a = drop_path(x, 0.5, True, generator=gen(4))
    b = DropPath(0.5, generator=gen(4))(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, drop_path(x, 0.5, True, generator=gen(5)))


def test_drop_path_bad_arguments():
    with pytest.raises(
        InvalidArgumentError,
        match=r"^Invalid value received for argument `p`\. Expected a float "
        r"between 0 and 1\. Received: p=1\.5$",
    ):
        DropPath(1.5)
    with pytest.raises(InvalidArgumentError, match="argument `scale_by_keep`"):
        DropPath(0.1, scale_by_keep=1)
    with pytest.raises(InvalidArgumentError, match="argument `x`"):
        drop_path(torch.tensor(1.0), 0.5, True)
    assert repr(DropPath(0.2)) == "DropPath(p=0.2, scale_by_keep=True)"


@needs_cuda
def test_cuda_device_dtype_and_reproducibility():
    x = torch.randn(4, 3, 16, 16, device="cuda", dtype=torch.float16)
    a, b = drop_path(x, 0.5, True, generator=gen(1, "cuda")), drop_path(x, 0.5, True, generator=gen(1, "cuda"))
    assert a.device == x.device and a.dtype == x.dtype
    assert torch.equal(a, b)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 4),
    c=st.integers(1, 3),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    b=st.integers(1, 10),
    p=st.floats(0.0, 1.0),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    seed=st.integers(0, 2**31),
)
def test_property_shapes_dtypes_and_values(n, c, h, w, b, p, dtype, seed):
    x = torch.rand(n, c, h, w, dtype=dtype, generator=gen(seed)) + 0.5
    path = drop_path(x, p, True, generator=gen(seed))
    per_sample = path.flatten(1)
    scale = 1 / (1 - p) if p < 1 else 1.0
    assert ((per_sample == 0).all(1) | torch.isclose(per_sample, x.flatten(1) * scale).all(1)).all()
