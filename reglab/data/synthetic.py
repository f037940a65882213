"""Synthetic data of the seed notes (d2l's ``synthetic_data``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..core.checks import check_float, check_generator, check_int, invalid_argument

__all__ = ["synthetic_linear"]


def synthetic_linear(
    w: torch.Tensor | Sequence[float],
    b: float | torch.Tensor,
    n: int,
    noise: float = 0.01,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``y = X w + b + eps`` with ``X ~ N(0, 1)`` and ``eps ~ N(0, noise^2)``.

    The same recipe as d2l's ``synthetic_data(w, b, num_examples)``.

    Args:
        w: true weights, shape ``(d,)`` or ``(d, 1)``.
        b: true bias (a scalar).
        n: number of examples.
        noise: standard deviation of the additive Gaussian noise.
        generator: a ``torch.Generator`` for reproducible draws (on the CPU).

    Returns:
        ``X`` of shape ``(n, d)`` and ``y`` of shape ``(n, 1)``.
    """
    n = check_int("n", n, low=0)
    noise = check_float("noise", noise, low=0.0)
    generator = check_generator("generator", generator)
    w = torch.as_tensor(w, dtype=dtype).reshape(-1)
    if w.numel() == 0:
        raise invalid_argument("w", "a non-empty vector of weights", w)
    b = torch.as_tensor(b, dtype=dtype)
    if b.numel() != 1:
        raise invalid_argument("b", "a scalar bias", b)
    X = torch.normal(0.0, 1.0, (n, w.numel()), generator=generator, dtype=dtype)
    y = X @ w + b.reshape(())
    y = y + torch.normal(0.0, 1.0, y.shape, generator=generator, dtype=dtype) * noise
    return X, y.reshape(-1, 1)
