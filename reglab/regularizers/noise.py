"""Noise regularizers: Gaussian dropout, additive Gaussian noise and alpha dropout.

- Gaussian dropout (Srivastava et al., 2014, section 10): multiply every
  element by ``1 + sqrt(p / (1 - p)) * eps`` with ``eps ~ N(0, 1)``, a
  multiplicative noise with mean 1 and the variance ``p / (1 - p)`` of
  inverted dropout's multiplier. Keras' ``GaussianDropout(rate)``.
- Gaussian noise: add ``std * eps``, training only. Keras' ``GaussianNoise``.
- Alpha dropout (Klambauer et al., 2017, "Self-Normalizing Neural Networks"):
  for SELU networks, dropped units are set to SELU's negative saturation
  ``alpha' = -lambda * alpha = -1.7580993408473766`` instead of 0, then the
  affine map ``a * x + b`` with ``a = ((1 - p)(1 + p alpha'^2))^(-1/2)`` and
  ``b = -a alpha' p`` restores mean 0 and variance 1 for an input of mean 0
  and variance 1. Feature alpha dropout drops whole channels the same way.
  These are ``torch.nn.functional.alpha_dropout`` and
  ``feature_alpha_dropout``.

Convention: ``p`` is the **drop** probability (the noise variance of Gaussian
dropout is that of inverted dropout with drop probability ``p``). Where ``p = 1``
has no meaning (Gaussian dropout's variance would be infinite; alpha dropout's
``a`` is infinite) it is rejected: ``0 <= p < 1``. Every function is the identity
when not training and when ``p == 0`` (or ``std == 0``). Masks come from
:func:`reglab.keep_mask`'s 32-bit uniform draw; Gaussian noise from
``torch.randn`` in the input's dtype on its device, both from the given
``torch.Generator``.

Shapes: any for the Gaussian ones and alpha dropout; feature alpha dropout
takes ``(N, C, *)`` and draws one mask value per (sample, channel), as torch
does (an unbatched ``(C, *)`` input needs ``x.unsqueeze(0)``).
"""

from __future__ import annotations

import math

import torch

from ..core.checks import check_bool, check_float, check_generator, check_probability
from .base import DropoutBase, StochasticModule, check_dropout_arguments, check_input, check_input_ndim
from .masks import draw_keep_mask

__all__ = [
    "SELU_ALPHA_PRIME",
    "alpha_affine",
    "gaussian_dropout",
    "GaussianDropout",
    "gaussian_noise",
    "GaussianNoise",
    "alpha_dropout",
    "AlphaDropout",
    "feature_alpha_dropout",
    "FeatureAlphaDropout",
]

#: SELU's negative saturation value, ``-lambda * alpha`` (Klambauer et al., 2017).
SELU_ALPHA_PRIME = -1.7580993408473766

_TWO_OR_MORE = range(2, 2**31)  # feature alpha dropout's allowed numbers of dimensions


def _normal_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=generator)


# --- Gaussian dropout ---------------------------------------------------------


def gaussian_dropout(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Multiply ``x`` by ``N(1, p / (1 - p))`` noise, element by element.

    Args:
        x: input of any shape, floating point, on any device.
        p: drop probability of the matching inverted dropout, ``0 <= p < 1``.
        training: apply the noise; when False, return ``x`` itself.
        generator: the ``torch.Generator`` for the noise (on ``x``'s device).

    Returns:
        A tensor of ``x``'s shape, dtype and device, with ``E[out] = x`` and
        ``Var[out] = x**2 * p / (1 - p)`` (``x`` itself when not training or ``p == 0``).
    """
    p = check_probability("p", p, allow_one=False)
    check_bool("training", training)
    generator = check_generator("generator", generator)
    check_input(x)
    if not training:
        return x
    return _gaussian_dropout(x, p, generator)


def _gaussian_dropout(x: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
    if p == 0.0 or x.numel() == 0:
        return x
    std = math.sqrt(p / (1.0 - p))
    return x * _normal_like(x, generator).mul_(std).add_(1.0)


class GaussianDropout(DropoutBase):
    """Module form of :func:`gaussian_dropout`; the identity in eval mode and when ``p == 0``.

    Args:
        p: drop probability of the matching inverted dropout, ``0 <= p < 1``.
        generator: optional ``torch.Generator`` for reproducible noise.

    Shape: input ``(*)``, output ``(*)``, the same.
    """

    allow_p_one = False

    def __init__(self, p: float = 0.5, *, generator: torch.Generator | None = None) -> None:
        super().__init__(p, generator=generator)  # never in place: the noise multiplies a copy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        if not self.training or self.p == 0.0:
            return x
        return _gaussian_dropout(x, self.p, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


# --- additive Gaussian noise --------------------------------------------------


def gaussian_noise(
    x: torch.Tensor,
    std: float,
    training: bool = True,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Add ``N(0, std**2)`` noise to every element of ``x`` (training only).

    Args:
        x: input of any shape, floating point, on any device.
        std: the noise's standard deviation, ``std >= 0``.
        training: add the noise; when False, return ``x`` itself.
        generator: the ``torch.Generator`` for the noise (on ``x``'s device).

    Returns:
        A tensor of ``x``'s shape, dtype and device (``x`` itself when not
        training or ``std == 0``).
    """
    std = check_float("std", std, low=0.0)
    check_bool("training", training)
    generator = check_generator("generator", generator)
    check_input(x)
    if not training:
        return x
    return _gaussian_noise(x, std, generator)


def _gaussian_noise(x: torch.Tensor, std: float, generator: torch.Generator | None) -> torch.Tensor:
    if std == 0.0 or x.numel() == 0:
        return x
    return x + _normal_like(x, generator).mul_(std)


class GaussianNoise(StochasticModule):
    """Module form of :func:`gaussian_noise`; the identity in eval mode and when ``std == 0``.

    Args:
        std: the noise's standard deviation, ``std >= 0``.
        generator: optional ``torch.Generator`` for reproducible noise.

    Shape: input ``(*)``, output ``(*)``, the same.
    """

    def __init__(self, std: float, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.std = check_float("std", std, low=0.0)
        self.generator = check_generator("generator", generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        if not self.training or self.std == 0.0:
            return x
        return _gaussian_noise(x, self.std, self.generator)

    def extra_repr(self) -> str:
        return f"std={self.std}"


# --- alpha dropout ------------------------------------------------------------


def alpha_affine(p: float) -> tuple[float, float]:
    """The affine correction ``(a, b)`` of alpha dropout with drop probability ``p``.

    ``a = ((1 - p)(1 + p alpha'^2))^(-1/2)`` and ``b = -a alpha' p``, so that
    ``a * x' + b`` has mean 0 and variance 1 when ``x`` does (``x'`` is ``x``
    with the dropped units set to ``alpha'``).
    """
    p = check_probability("p", p, allow_one=False)
    a = 1.0 / math.sqrt((1.0 - p) * (1.0 + p * SELU_ALPHA_PRIME**2))
    return a, -a * SELU_ALPHA_PRIME * p


def _alpha_dropout(
    x: torch.Tensor, p: float, inplace: bool, mask_shape: torch.Size, generator: torch.Generator | None
) -> torch.Tensor:
    """Alpha dropout with a mask of ``mask_shape`` broadcast over ``x`` (arguments validated)."""
    if p == 0.0 or x.numel() == 0:
        return x
    a, b = alpha_affine(p)
    dropped = a * SELU_ALPHA_PRIME + b
    keep = draw_keep_mask(mask_shape, p, x.device, generator)
    if inplace:
        return x.mul_(a).add_(b).masked_fill_(~keep, dropped)
    # ``where`` saves only the bool mask for backward: the gradient is ``a * grad`` where kept, else 0.
    return torch.where(keep, x * a + b, dropped)


def _feature_mask_shape(x: torch.Tensor) -> torch.Size:
    """``(N, C, 1, ...)``: one mask value per (sample, channel)."""
    check_input_ndim(x, _TWO_OR_MORE, "a tensor of shape (N, C, *) with at least 2 dimensions")
    return torch.Size(x.shape[:2] + (1,) * (x.dim() - 2))


def alpha_dropout(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Alpha dropout: set dropped units to SELU's saturation ``alpha'``, then ``a * x + b``.

    Unlike ``torch.nn.functional.alpha_dropout``, ``training`` defaults to
    True, as in :func:`reglab.dropout`.

    Args:
        x: input of any shape, floating point, on any device (SELU activations).
        p: drop probability, ``0 <= p < 1``.
        training: apply dropout; when False, return ``x`` itself.
        inplace: write the result into ``x``.
        generator: the ``torch.Generator`` for the mask (on ``x``'s device).

    Returns:
        A tensor of ``x``'s shape, dtype and device (``x`` itself when not
        training or ``p == 0``).
    """
    p, generator = check_dropout_arguments(p, training, inplace, generator, allow_one=False)
    check_input(x)
    if not training:
        return x
    return _alpha_dropout(x, p, inplace, x.shape, generator)


def feature_alpha_dropout(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Alpha dropout of whole channels: one mask value per (sample, channel).

    Args:
        x: ``(N, C, *)``, floating point, on any device.
        p: drop probability of a channel, ``0 <= p < 1``.
        training: apply dropout; when False, return ``x`` itself.
        inplace: write the result into ``x``.
        generator: the ``torch.Generator`` for the mask (on ``x``'s device).

    Returns:
        A tensor of ``x``'s shape, dtype and device.
    """
    p, generator = check_dropout_arguments(p, training, inplace, generator, allow_one=False)
    mask_shape = _feature_mask_shape(x)
    if not training:
        return x
    return _alpha_dropout(x, p, inplace, mask_shape, generator)


class AlphaDropout(DropoutBase):
    """Module form of :func:`alpha_dropout`; the identity in eval mode and when ``p == 0``.

    Args:
        p: drop probability, ``0 <= p < 1``.
        inplace: write the result into the input.
        generator: optional ``torch.Generator`` for reproducible masks.

    Shape: input ``(*)``, output ``(*)``, the same.
    """

    allow_p_one = False

    def _mask_shape(self, x: torch.Tensor) -> torch.Size:
        return x.shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        mask_shape = self._mask_shape(x)
        if not self.training or self.p == 0.0:
            return x
        return _alpha_dropout(x, self.p, self.inplace, mask_shape, self.generator)


class FeatureAlphaDropout(AlphaDropout):
    """Module form of :func:`feature_alpha_dropout`; the identity in eval mode and when ``p == 0``.

    Args:
        p: drop probability of a channel, ``0 <= p < 1``.
        inplace: write the result into the input.
        generator: optional ``torch.Generator`` for reproducible masks.

    Shape: input ``(N, C, *)``, output the same.
    """

    def _mask_shape(self, x: torch.Tensor) -> torch.Size:
        return _feature_mask_shape(x)
