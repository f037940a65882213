"""Locked (variational) dropout for sequences: one mask shared by every time step.

Gal & Ghahramani (2016), "A Theoretically Grounded Application of Dropout in
Recurrent Neural Networks", and Merity et al. (2018), AWD-LSTM, which named it
"locked dropout": drawing a fresh mask at every time step lets the network
average the noise away across time; sharing one mask per (sample, feature)
over the whole sequence does not.

Convention: ``p`` is the **drop** probability; kept features are scaled by
``1 / (1 - p)`` (inverted dropout), so evaluation is the identity. This is
:func:`reglab.dropout` with ``noise_shape=(1, N, F)`` (or ``(N, 1, F)`` with
``batch_first``), and the mask is the one :func:`reglab.keep_mask` draws for
that shape.

Shapes: ``(T, N, F)`` (time first, as ``torch.nn.LSTM`` by default) or
``(N, T, F)`` with ``batch_first=True``; any other number of dimensions is an
error.
"""

from __future__ import annotations

import torch

from ..core.checks import check_bool
from .base import DropoutBase, check_dropout_arguments, check_input_ndim
from .inverted_dropout import broadcast_dropout

__all__ = ["locked_dropout", "LockedDropout"]


def _locked_mask_shape(x: torch.Tensor, batch_first: bool) -> torch.Size:
    """``(1, N, F)`` for ``(T, N, F)``; ``(N, 1, F)`` for ``(N, T, F)``."""
    layout = "(N, T, F)" if batch_first else "(T, N, F)"
    check_input_ndim(x, (3,), f"a 3-D {layout} tensor")
    time = 1 if batch_first else 0
    shape = list(x.shape)
    shape[time] = 1
    return torch.Size(shape)


def locked_dropout(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    batch_first: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Zero each (sample, feature) with probability ``p`` at every time step at once, scale the rest by ``1/(1-p)``.

    Args:
        x: ``(T, N, F)``, or ``(N, T, F)`` with ``batch_first``; floating point, any device.
        p: drop probability, ``0 <= p <= 1``.
        training: apply dropout; when False, return ``x`` itself.
        inplace: write the result into ``x``.
        batch_first: the input is ``(N, T, F)`` rather than ``(T, N, F)``.
        generator: the ``torch.Generator`` for the mask (on ``x``'s device).

    Returns:
        A tensor of ``x``'s shape, dtype and device.
    """
    p, generator = check_dropout_arguments(p, training, inplace, generator)
    check_bool("batch_first", batch_first)
    mask_shape = _locked_mask_shape(x, batch_first)
    if not training:
        return x
    return broadcast_dropout(x, p, inplace, mask_shape, generator)


class LockedDropout(DropoutBase):
    """Module form of :func:`locked_dropout`; the identity in eval mode and when ``p == 0``.

    Args:
        p: drop probability, ``0 <= p <= 1``.
        inplace: write the result into the input.
        batch_first: the input is ``(N, T, F)`` rather than ``(T, N, F)``.
        generator: optional ``torch.Generator`` for reproducible masks.

    Shape: input ``(T, N, F)`` (or ``(N, T, F)`` with ``batch_first``), output the same.
    """

    def __init__(
        self,
        p: float = 0.5,
        inplace: bool = False,
        *,
        batch_first: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(p, inplace, generator=generator)
        self.batch_first = check_bool("batch_first", batch_first)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask_shape = _locked_mask_shape(x, self.batch_first)
        if not self.training or self.p == 0.0:
            return x
        return broadcast_dropout(x, self.p, self.inplace, mask_shape, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, batch_first={self.batch_first}, inplace={self.inplace}"
