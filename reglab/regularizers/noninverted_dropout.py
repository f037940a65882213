"""Vanilla (non-inverted) dropout, the form of Srivastava et al. (2014) and cs231n.

Convention: ``p`` is the **drop** probability (cs231n's notes use the keep
probability). In training each element is kept with probability ``1 - p`` and
passed through unscaled; in evaluation every element is multiplied by
``1 - p``, so the evaluation output equals the training output's expectation.
cs231n calls this form "not recommended": the test-time path must know ``p``,
while inverted dropout (:func:`reglab.dropout`) moves the scaling to training
and leaves evaluation the identity. The two are equal up to the constant factor
``1 - p``: for the same generator state, ``vanilla_dropout(x, p) / (1 - p)`` is
``dropout(x, p)`` (the same mask is drawn).

Unlike every other reglab module, :class:`VanillaDropout` is **not** the
identity in eval mode (unless ``p == 0``): it returns ``(1 - p) * x``.

Shapes: any; the mask has the input's shape.
"""

from __future__ import annotations

import torch

from .base import DropoutBase, check_dropout_arguments, check_input
from .masks import draw_keep_mask

__all__ = ["vanilla_dropout", "VanillaDropout"]


def vanilla_dropout(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Vanilla dropout: zero each element with probability ``p`` in training, scale by ``1 - p`` in eval.

    Args:
        x: input of any shape, floating point, on any device.
        p: drop probability, ``0 <= p <= 1``.
        training: when True, ``x * mask`` (no scaling); when False, ``(1 - p) * x``.
        inplace: write the result into ``x``.
        generator: the ``torch.Generator`` for the mask (on ``x``'s device); the
            mask is the one :func:`reglab.dropout` draws from the same state.

    Returns:
        A tensor of ``x``'s shape, dtype and device (``x`` itself when ``p == 0``).
    """
    p, generator = check_dropout_arguments(p, training, inplace, generator)
    return _vanilla_dropout(x, p, training, inplace, generator)


def _vanilla_dropout(
    x: torch.Tensor, p: float, training: bool, inplace: bool, generator: torch.Generator | None
) -> torch.Tensor:
    """:func:`vanilla_dropout` with arguments already validated."""
    check_input(x)
    if p == 0.0 or x.numel() == 0:
        return x
    if not training:
        return x.mul_(1.0 - p) if inplace else x.mul(1.0 - p)
    if p == 1.0:
        return x.mul_(0.0) if inplace else x.mul(0.0)
    # The uint8 view: autograd saves the 1-byte mask, and the CPU converts uint8 fast.
    mask = draw_keep_mask(x.shape, p, x.device, generator).view(torch.uint8)
    return x.mul_(mask) if inplace else x.mul(mask)


class VanillaDropout(DropoutBase):
    """Module form of :func:`vanilla_dropout`.

    In eval mode this module multiplies by ``1 - p``; it is the identity (and
    returns its input object) only when ``p == 0``.

    Args:
        p: drop probability, ``0 <= p <= 1``.
        inplace: write the result into the input.
        generator: optional ``torch.Generator`` for reproducible masks.

    Shape: input ``(*)``, output ``(*)``, the same.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _vanilla_dropout(x, self.p, self.training, self.inplace, self.generator)
