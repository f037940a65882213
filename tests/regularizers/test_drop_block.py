"""drop_block_2d / DropBlock2d against reference formulas and their statistical contracts.

Tolerances are k = 5 standard errors (binomial where the draws are independent
Bernoulli; for DropBlock, whose drops are correlated within a map, the standard
error of a mean over independent maps), with fixed seeds.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import reglab.regularizers.drop_block as rs
from reglab.core.errors import InvalidArgumentError
from reglab.regularizers.drop_block import DropBlock2d, drop_block_2d, drop_block_gamma
from tests.helpers import K, gen, needs_cuda


def test_gamma_is_the_papers_formula_and_clips_large_blocks():
    p, b, h, w = 0.1, 7, 14, 20
    assert drop_block_gamma(p, b, h, w) == pytest.approx(p / b**2 * h * w / ((h - b + 1) * (w - b + 1)), rel=1e-15)
    # A block covering the whole map: one possible seed, dropped with probability p.
    assert drop_block_gamma(0.3, 9, 5, 5) == pytest.approx(0.3, rel=1e-15)
    # Clipped per dimension: a 3x5 block in a 3x20 map has 16 positions.
    assert drop_block_gamma(0.3, 5, 3, 20) == pytest.approx(0.3 * 60 / 15 / 16, rel=1e-15)


def _single_seed(monkeypatch, i: int, j: int) -> None:
    """Make DropBlock's seed draw contain exactly one seed, at (i, j) of every map."""

    def one_seed(shape, p, *, device=None, generator=None):
        keep = torch.ones(shape, dtype=torch.bool, device=device)
        keep[..., i, j] = False
        return keep

    monkeypatch.setattr(rs, "keep_mask", one_seed)


@pytest.mark.parametrize("b, i, j", [(3, 0, 0), (3, 7, 7), (4, 2, 5), (7, 1, 3), (1, 4, 4)])
def test_a_single_seed_drops_one_block_size_square(monkeypatch, b, i, j):
    _single_seed(monkeypatch, i, j)
    x = torch.rand(2, 3, 10, 10, dtype=torch.float64, generator=gen(0)) + 0.5
    out = drop_block_2d(x, 0.2, block_size=b)
    expected_mask = torch.ones(10, 10, dtype=torch.float64)
    expected_mask[i : i + b, j : j + b] = 0.0
    scale = 100 / (100 - b * b)
    torch.testing.assert_close(out, x * expected_mask * scale, rtol=1e-14, atol=0)


def _fully_dropped_windows_cover_the_drops(dropped: torch.Tensor, b: int) -> bool:
    """True when the dropped set is a union of b x b squares inside the map."""
    full = -F.max_pool2d(-dropped, b, stride=1)  # 1 where a whole b x b window is dropped
    covered = F.max_pool2d(F.pad(full, (b - 1,) * 4), b, stride=1)
    return torch.equal(covered, dropped)


@pytest.mark.parametrize("b", [2, 3, 5])
def test_dropped_regions_are_whole_blocks(b):
    x = torch.rand(8, 4, 24, 24, generator=gen(1)) + 0.5
    out = drop_block_2d(x, 0.3, block_size=b, generator=gen(2))
    dropped = (out == 0).float()
    assert dropped.sum() > 0
    assert _fully_dropped_windows_cover_the_drops(dropped, b)
    # A plain dropout mask of the same rate is not a union of blocks.
    assert not _fully_dropped_windows_cover_the_drops((torch.rand(8, 4, 24, 24, generator=gen(3)) < 0.3).float(), b)


def _expected_drop_rate(p: float, b: int, h: int, w: int) -> float:
    """E[fraction dropped]: a unit covered by c possible seeds survives with (1 - gamma)**c."""
    gamma = drop_block_gamma(p, b, h, w)
    valid = torch.ones(1, 1, h - b + 1, w - b + 1, dtype=torch.float64)
    coverage = F.conv2d(F.pad(valid, (b - 1,) * 4), torch.ones(1, 1, b, b, dtype=torch.float64))
    return (1 - (1 - gamma) ** coverage).mean().item()


@pytest.mark.parametrize("p, b", [(0.1, 5), (0.25, 3), (0.1, 7)])
def test_realised_drop_rate_matches_its_expectation_and_the_documented_bound(p, b):
    n_maps, h, w = 2048, 32, 32
    out = drop_block_2d(torch.ones(n_maps, 1, h, w), p, block_size=b, generator=gen(int(p * 100) + b))
    per_map = (out == 0).double().mean((1, 2, 3))  # independent across maps
    rate, se = per_map.mean().item(), per_map.std().item() / math.sqrt(n_maps)
    expected = _expected_drop_rate(p, b, h, w)
    assert abs(rate - expected) < K * se
    gamma = drop_block_gamma(p, b, h, w)
    assert p * (1 - gamma * b * b / 2) <= expected <= p
    assert p * (1 - gamma * b * b / 2) - K * se < rate < p + K * se


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_mean_is_preserved_exactly_and_survivors_scaled_by_numel_over_kept(dtype):
    x = torch.full((4, 3, 16, 16), 2.5, dtype=dtype)
    out = drop_block_2d(x, 0.3, block_size=4, generator=gen(6))
    kept = (out != 0).sum().item()
    assert 0 < kept < x.numel()
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    assert out.mean().item() == pytest.approx(2.5, rel=tol)
    assert torch.allclose(out[out != 0], torch.tensor(2.5 * x.numel() / kept, dtype=dtype), rtol=tol, atol=0)
    assert out.dtype == dtype


def test_gradient_is_the_scaled_mask():
    x = torch.rand(2, 2, 12, 12, dtype=torch.float64, generator=gen(1)).add(0.5).requires_grad_(True)
    upstream = torch.randn(2, 2, 12, 12, dtype=torch.float64, generator=gen(2))
    out = drop_block_2d(x, 0.3, block_size=3, generator=gen(3))
    out.backward(upstream)
    factor = (out / x).detach()  # mask * numel / kept
    torch.testing.assert_close(x.grad, upstream * factor, rtol=1e-14, atol=0)


def test_block_larger_than_the_map_drops_whole_maps_with_probability_p():
    p, n = 0.3, 1 << 14
    out = drop_block_2d(torch.ones(n, 1, 5, 5), p, block_size=9, generator=gen(8))
    per_map = (out == 0).flatten(1)
    assert (per_map.all(1) | ~per_map.any(1)).all()  # whole maps, nothing partial
    rate = per_map.all(1).double().mean().item()
    assert abs(rate - p) < K * math.sqrt(p * (1 - p) / n)


def test_block_taller_than_the_map_spans_its_height():
    out = drop_block_2d(torch.ones(64, 1, 3, 20), 0.3, block_size=5, generator=gen(9))
    dropped = out == 0
    assert dropped.any()
    # Each column is dropped in all 3 rows or in none.
    assert (dropped.all(2) | ~dropped.any(2)).all()


def test_drop_block_identity_zeros_and_errors():
    x = torch.randn(2, 3, 8, 8)
    assert drop_block_2d(x, 0.0) is x
    assert drop_block_2d(x, 0.5, training=False) is x
    m = DropBlock2d(0.5, block_size=3).eval()
    assert m(x) is x
    assert torch.equal(drop_block_2d(x, 1.0, block_size=3), torch.zeros_like(x))
    with pytest.raises(
        InvalidArgumentError,
        match=r"^Invalid value received for argument `x`\. Expected a 4-D "
        r"tensor \(N, C, H, W\)\. Received: x\.shape=\(3, 8, 8\)$",
    ):
        drop_block_2d(torch.ones(3, 8, 8), 0.1, block_size=3)
    with pytest.raises(
        InvalidArgumentError,
        match=r"argument `block_size`\. Expected an integer >= 1\. "
        r"Received: block_size=0",
    ):
        DropBlock2d(0.1, block_size=0)
    with pytest.raises(InvalidArgumentError, match="argument `gamma_scale`"):
        DropBlock2d(0.1, block_size=3, gamma_scale=-1.0)
    with pytest.raises(InvalidArgumentError, match="argument `p`"):
        DropBlock2d(float("nan"))
    assert repr(DropBlock2d(0.1, block_size=5)) == "DropBlock2d(p=0.1, block_size=5, gamma_scale=1.0)"


def test_drop_block_generator_reproducible_and_module_matches_function():
    x = torch.randn(4, 2, 16, 16)
    a = drop_block_2d(x, 0.2, block_size=3, generator=gen(4))
    b = DropBlock2d(0.2, block_size=3, generator=gen(4))(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, drop_block_2d(x, 0.2, block_size=3, generator=gen(5)))


def test_batchwise_shares_one_mask_drawn_as_for_a_batch_of_one():
    x = torch.ones(5, 3, 12, 12, dtype=torch.float64)
    shared = drop_block_2d(x, 0.3, block_size=3, batchwise=True, generator=gen(11))
    single = drop_block_2d(x[:1], 0.3, block_size=3, generator=gen(11))  # the same draws: one (1, C, H', W') seed map
    assert (single == 0).any()
    assert torch.equal(shared, single.expand_as(x))
    module = DropBlock2d(0.3, block_size=3, batchwise=True, generator=gen(11))
    assert torch.equal(module(x), shared)
    assert repr(module) == "DropBlock2d(p=0.3, block_size=3, gamma_scale=1.0, batchwise=True)"


@pytest.mark.parametrize("batchwise", [False, True])
def test_with_noise_fills_the_dropped_blocks_with_standard_normal_noise_unscaled(batchwise):
    x = torch.rand(4, 2, 10, 10, dtype=torch.float64, generator=gen(1)).add(0.5).requires_grad_(True)
    out = drop_block_2d(x, 0.3, block_size=3, batchwise=batchwise, with_noise=True, generator=gen(12))
    # The same draws by hand: the seeds, then N(0, 1) noise of the mask's shape.
    g = gen(12)
    shape = torch.Size((1 if batchwise else 4, 2, 10, 10))
    mask = rs._block_mask(shape, drop_block_gamma(0.3, 3, 10, 10), 3, torch.float64, x.device, g)
    noise = torch.randn(shape, generator=g, dtype=torch.float64)
    assert 0 < mask.sum() < mask.numel()
    torch.testing.assert_close(out, x * mask + noise * (1 - mask), rtol=0, atol=0)
    out.backward(torch.ones_like(out))
    assert torch.equal(x.grad, mask.expand_as(x))  # kept units pass unscaled, dropped ones get no gradient


def test_with_noise_values_are_standard_normal():
    out = drop_block_2d(torch.zeros(64, 4, 16, 16), 0.5, block_size=3, with_noise=True, generator=gen(13))
    noise = out[out != 0].double()
    n = noise.numel()
    assert n > 10_000
    assert abs(noise.mean().item()) < K / math.sqrt(n)
    assert abs(noise.var().item() - 1.0) < K * math.sqrt(2.0 / n)


def test_batchwise_and_with_noise_are_checked():
    for name in ("batchwise", "with_noise"):
        expected = rf"argument `{name}`\. Expected True or False\. Received: {name}=1"
        with pytest.raises(InvalidArgumentError, match=expected):
            DropBlock2d(0.1, block_size=3, **{name: 1})
        with pytest.raises(InvalidArgumentError, match=rf"argument `{name}`"):
            drop_block_2d(torch.ones(1, 1, 4, 4), 0.1, block_size=3, **{name: "yes"})


@needs_cuda
def test_cuda_device_dtype_and_reproducibility():
    x = torch.randn(4, 3, 16, 16, device="cuda", dtype=torch.float16)
    a = drop_block_2d(x, 0.2, block_size=3, generator=gen(1, "cuda"))
    b = drop_block_2d(x, 0.2, block_size=3, generator=gen(1, "cuda"))
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
    out = drop_block_2d(x, p, block_size=b, generator=gen(seed))
    assert out.shape == x.shape and out.dtype == dtype and torch.isfinite(out).all()
    kept = out != 0
    if kept.any():  # survivors are x * numel / kept, the same factor everywhere
        factor = x.numel() / kept.sum().item()
        torch.testing.assert_close(out[kept], x[kept] * factor)
