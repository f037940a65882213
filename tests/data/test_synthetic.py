"""synthetic_linear: d2l's synthetic_data, deterministic under a generator."""

import math

import pytest
import torch

from reglab.core.errors import InvalidArgumentError
from reglab.data import synthetic_linear


def test_shapes_and_exact_linear_part():
    w = torch.tensor([2.0, -3.4])
    X, y = synthetic_linear(w, 4.2, 50, noise=0.0, generator=torch.Generator().manual_seed(0))
    assert X.shape == (50, 2) and y.shape == (50, 1)
    torch.testing.assert_close(y, (X @ w + 4.2).reshape(-1, 1))


def test_same_generator_seed_same_data_and_different_seed_differs():
    a = synthetic_linear([1.0, 2.0], 0.5, 100, generator=torch.Generator().manual_seed(7))
    b = synthetic_linear([1.0, 2.0], 0.5, 100, generator=torch.Generator().manual_seed(7))
    c = synthetic_linear([1.0, 2.0], 0.5, 100, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_noise_and_features_have_the_stated_distribution():
    n, noise = 200_000, 0.01
    w = torch.tensor([2.0, -3.4])
    X, y = synthetic_linear(w, 4.2, n, noise=noise, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    residual = y.reshape(-1) - (X @ w.double() + 4.2)
    # Mean within 5 standard errors; the sample std of a normal has SE sigma/sqrt(2n).
    assert abs(residual.mean().item()) < 5 * noise / math.sqrt(n)
    assert abs(residual.std().item() - noise) < 5 * noise / math.sqrt(2 * n)
    assert abs(X.mean().item()) < 5 / math.sqrt(2 * n)
    assert abs(X.std().item() - 1.0) < 5 / math.sqrt(2 * 2 * n)


def test_column_weight_vector_like_d2l():
    w = torch.ones((200, 1)) * 0.01
    X, y = synthetic_linear(w, 0.05, 20, generator=torch.Generator().manual_seed(0))
    assert X.shape == (20, 200) and y.shape == (20, 1)


@pytest.mark.parametrize(
    "kwargs, name", [({"n": -1}, "n"), ({"noise": -0.1}, "noise"), ({"n": 2.5}, "n"), ({"generator": 3}, "generator")]
)
def test_bad_arguments(kwargs, name):
    args = {"w": [1.0], "b": 0.0, "n": 10, **kwargs}
    with pytest.raises(InvalidArgumentError, match=f"argument `{name}`"):
        synthetic_linear(**args)
