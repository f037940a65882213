"""Inverted dropout (Srivastava et al., 2014), fast and exact.

Convention: ``p`` is the **drop** probability, as in PyTorch (cs231n's notes
use the keep probability). In training each element is kept with probability
``1 - p`` and survivors are scaled by ``1 / (1 - p)``, so the output's
expectation equals the input; in evaluation dropout is the identity. ``p = 0``
is the identity, ``p = 1`` gives zeros.

The mask comes from a uniform draw: an element is kept when a uniform 32-bit
integer is at least ``round(p * 2**32)``, so the keep probability is ``1 - p``
to within 2**-33 (finer than ``torch.rand(...) >= p`` in float32, which
resolves 2**-24). When ``p * 256`` is an integer only the integer's top byte
can decide, and on the CPU only that byte is drawn (see :mod:`reglab.regularizers.masks`). The bits come from
``torch.Tensor.random_`` on the input's device with the given
``torch.Generator`` (or the default one), so the same generator state gives
the same mask on the same device (under ``torch.compile`` without a generator
the mask comes from the compiled graph's own random stream instead, so that
the graph has no break). Only the mask (1 byte per element) is saved
for backward, where ``torch.nn.functional.dropout`` on the CPU saves a 4-byte
float per element; the output and the gradient are computed in one pass each
(``x * mask * scale``). Speed against torch's dropout: ``docs/regularizers-dropout.md``.

Shapes: any; the mask has the input's shape, or ``noise_shape`` when given:
a shape with the input's number of dimensions whose entries are the input's
size or 1 (``None`` meaning the input's size), broadcast over the input
(Keras' convention). ``noise_shape=(N, C, 1, 1)`` for an ``(N, C, H, W)`` input
drops whole channels, ``(1, N, F)`` for a ``(T, N, F)`` sequence drops the
same features at every time step.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import torch

from ..core.checks import invalid_argument
from .base import DropoutBase, check_dropout_arguments, check_input
from .masks import CPU_CHUNK, apply_mask, draw_keep_mask, fill_keep_mask, threshold

__all__ = ["dropout", "Dropout", "dense_dropout", "broadcast_dropout", "check_noise_shape", "resolve_noise_shape"]

NoiseShape = Sequence[int | None]


_NOISE_SHAPE_EXPECTED = "None or a sequence of integers >= 0 or None, one per dimension of the input"


def check_noise_shape(noise_shape: Any) -> tuple[int | None, ...] | None:
    """Validate ``noise_shape`` on its own (its fit to the input is checked per call)."""
    if noise_shape is None:
        return None
    if not isinstance(noise_shape, (tuple, list, torch.Size)) or not all(
        d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and int(d) >= 0) for d in noise_shape
    ):
        raise invalid_argument("noise_shape", _NOISE_SHAPE_EXPECTED, noise_shape)
    return tuple(None if d is None else int(d) for d in noise_shape)


def resolve_noise_shape(noise_shape: tuple[int | None, ...], shape: torch.Size) -> torch.Size:
    """The mask shape for an input of ``shape``: ``None`` entries become the input's size."""
    expected = f"a sequence of {len(shape)} entries, each None, 1 or the input's size in {tuple(shape)}"
    if len(noise_shape) != len(shape):
        raise invalid_argument("noise_shape", expected, noise_shape)
    resolved = tuple(n if d is None else d for d, n in zip(noise_shape, shape))
    if any(d != n and d != 1 for d, n in zip(resolved, shape)):
        raise invalid_argument("noise_shape", expected, noise_shape)
    return torch.Size(resolved)


def broadcast_dropout(
    x: torch.Tensor,
    p: float,
    inplace: bool,
    mask_shape: torch.Size,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Inverted dropout with one mask value of shape ``mask_shape`` broadcast over ``x``.

    ``mask_shape`` is already resolved (see :func:`resolve_noise_shape`); when it
    is ``x``'s shape this is exactly :func:`dense_dropout`, the same mask included.
    """
    if mask_shape == x.shape:
        return dense_dropout(x, p, inplace, generator)
    if p == 0.0 or x.numel() == 0:
        return x
    if p == 1.0:
        return x.mul_(0.0) if inplace else x.mul(0.0)
    # The mask is smaller than x: scaling it first (in x's dtype, as torch's
    # feature dropout does) leaves one broadcast multiply, twice as fast as
    # multiplying by a broadcast uint8 mask and then by the scale.
    mask = draw_keep_mask(mask_shape, p, x.device, generator).to(x.dtype).mul_(1.0 / (1.0 - p))
    return x.mul_(mask) if inplace else x.mul(mask)


def dropout(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    noise_shape: NoiseShape | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Inverted dropout: zero each element with probability ``p``, scale the rest by ``1/(1-p)``.

    Args:
        x: input of any shape, floating point, on any device.
        p: drop probability, ``0 <= p <= 1``.
        training: apply dropout; when False, return ``x`` itself.
        inplace: write the result into ``x``.
        noise_shape: the mask's shape, broadcast over ``x``: one entry per
            dimension of ``x``, each ``x``'s size, 1, or ``None`` (``x``'s size).
            ``None`` (the default) draws one mask value per element.
        generator: the ``torch.Generator`` for the mask (on ``x``'s device).

    Returns:
        A tensor of ``x``'s shape, dtype and device (``x`` itself when not
        training or ``p == 0``; zeros when ``p == 1``).
    """
    p, generator = check_dropout_arguments(p, training, inplace, generator)
    noise_shape = check_noise_shape(noise_shape)
    check_input(x)
    if not training:
        return x
    if noise_shape is None:
        return dense_dropout(x, p, inplace, generator)
    return broadcast_dropout(x, p, inplace, resolve_noise_shape(noise_shape, x.shape), generator)


def dense_dropout(x: torch.Tensor, p: float, inplace: bool, generator: torch.Generator | None) -> torch.Tensor:
    """:func:`dropout` in training mode with arguments already validated."""
    if p == 0.0 or x.numel() == 0:
        return x
    if p == 1.0:
        return x.mul_(0.0) if inplace else x.mul(0.0)
    device = x.device
    # The chunked path works on the flat, row-major tensor; any other layout (channels_last...)
    # takes the generic path, which keeps it (the same mask either way).
    if device.type == "cpu" and x.numel() > CPU_CHUNK and x.is_contiguous() and not torch.compiler.is_compiling():
        # torch leaves Function.apply unannotated; untyped_calls_exclude = ["torch"] does not
        # cover it, since mypy names the method after the subclass (reglab...._LargeCPUDropout).apply
        out: torch.Tensor = _LargeCPUDropout.apply(x, p, inplace, generator)  # type: ignore[no-untyped-call]
        return out
    return apply_mask(x, draw_keep_mask(x.shape, p, device, generator), 1.0 / (1.0 - p), inplace)


class _LargeCPUDropout(torch.autograd.Function):
    """Dropout of a large CPU tensor, chunk by chunk, so that each chunk's random
    words, mask, input and output are still in cache when they are combined.

    Draws exactly the mask of :func:`keep_mask` (same generator state, same
    chunks) and saves only it. The backward works chunk by chunk too, into one
    new tensor: at this size the generic path's two fresh allocations would cost
    more than the arithmetic (first-touch page faults).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, p: float, inplace: bool, generator: torch.Generator | None) -> torch.Tensor:
        scale = 1.0 / (1.0 - p)
        t = threshold(p)
        source = x.reshape(-1)
        in_place = inplace and x.is_contiguous()
        result = source if in_place else torch.empty_like(source)
        mask = torch.empty(source.shape, dtype=torch.bool)
        for start in range(0, source.numel(), CPU_CHUNK):
            part = slice(start, start + CPU_CHUNK)
            chunk_mask = fill_keep_mask(mask[part], t, generator).view(torch.uint8)
            torch.mul(source[part], chunk_mask, out=result[part]).mul_(scale)
        ctx.save_for_backward(mask.view(x.shape))
        ctx.scale = scale
        if inplace:
            if not in_place:
                x.copy_(result.view(x.shape))
            ctx.mark_dirty(x)
            return x
        return result.view(x.shape)

    @staticmethod
    def backward(ctx: Any, *grad_outputs: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        # Function.backward's own signature: mypy before 2.0 rejects a narrower one as an override.
        (grad,) = grad_outputs  # one output, one gradient
        (mask,) = ctx.saved_tensors
        # Chunk by chunk like the forward: the second pass (the scale) finds the
        # chunk in cache, where two whole-tensor passes go to memory twice.
        source = grad.reshape(-1)
        flat_mask = mask.view(torch.uint8).reshape(-1)
        result = torch.empty_like(source)
        for start in range(0, source.numel(), CPU_CHUNK):
            part = slice(start, start + CPU_CHUNK)
            torch.mul(source[part], flat_mask[part], out=result[part]).mul_(ctx.scale)
        return result.view(grad.shape), None, None, None


class Dropout(DropoutBase):
    """Module form of :func:`dropout`; the identity in eval mode and when ``p == 0``.

    Args:
        p: drop probability, ``0 <= p <= 1``.
        inplace: write the result into the input.
        noise_shape: the mask's shape broadcast over the input (see :func:`dropout`);
            ``None`` for one mask value per element.
        generator: optional ``torch.Generator`` for reproducible masks.

    Shape: input ``(*)``, output ``(*)``, the same.
    """

    def __init__(
        self,
        p: float = 0.5,
        inplace: bool = False,
        *,
        noise_shape: NoiseShape | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(p, inplace, generator=generator)
        self.noise_shape = check_noise_shape(noise_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        if not self.training or self.p == 0.0:
            return x
        if self.noise_shape is None:
            return dense_dropout(x, self.p, self.inplace, self.generator)
        mask_shape = resolve_noise_shape(self.noise_shape, x.shape)
        return broadcast_dropout(x, self.p, self.inplace, mask_shape, self.generator)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text if self.noise_shape is None else f"{text}, noise_shape={self.noise_shape}"
