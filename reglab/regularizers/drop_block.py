"""DropBlock: contiguous squares of each feature map dropped together.

Ghiasi, Lin and Le (2018), "DropBlock: A regularization method for
convolutional networks": contiguous ``block_size x block_size`` squares of each
feature map are dropped together, and the output is rescaled by
``numel / kept`` so that the mean is preserved.

Convention: ``p`` is the **drop** probability, as everywhere in reglab. ``p = 0``
and eval mode are the identity (the input object itself is returned); ``p = 1``
gives zeros.

DropBlock details. Block seeds are drawn only where a whole block fits (the
paper's "valid seed region"): a seed at ``(i, j)``, ``0 <= i <= H - b``,
``0 <= j <= W - b``, drops the square ``[i, i + b) x [j, j + b)``. Seeds are
Bernoulli(gamma) with

    gamma = gamma_scale * p / b**2 * H * W / ((H - b + 1) * (W - b + 1)),

so the expected number of dropped units, counted with overlaps, is exactly
``p * H * W`` per map (:func:`drop_block_gamma`). Overlapping blocks make the
realised drop rate a little lower: with ``gamma_scale = 1`` its expectation ``r``
satisfies ``p * (1 - gamma * b**2 / 2) <= r <= p`` (the union bound and the
second Bonferroni inequality), e.g. ``0.095 <= r <= 0.1`` for ``p = 0.1`` on
large maps. A block larger than the map is clipped to the map in that
dimension (``b_h = min(b, H)``, ``b_w = min(b, W)``), as timm does, and the
formula uses the clipped sizes. Each channel has its own mask; with
``batchwise=True`` one ``(1, C, H, W)`` mask is shared by the whole batch
(timm's option: one draw instead of N). With ``with_noise=True`` (timm's
experimental option) the dropped units are filled with N(0, 1) noise instead
of zeros, and nothing is rescaled: ``x * mask + noise * (1 - mask)``.

Shapes: ``(N, C, H, W)``; the mask has the input's shape, or ``(1, C, H, W)``
with ``batchwise``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.checks import check_bool, check_float, check_generator, check_int, check_probability
from ..core.errors import InvalidArgumentError
from .base import StochasticModule, check_input
from .masks import keep_mask

__all__ = ["drop_block_gamma", "drop_block_2d", "DropBlock2d"]


def drop_block_gamma(p: float, block_size: int, height: int, width: int) -> float:
    """The seed rate gamma of DropBlock for a target drop probability ``p``.

    ``gamma = p / (b_h * b_w) * H * W / ((H - b_h + 1) * (W - b_w + 1))`` with
    the block clipped to the map, ``b_h = min(block_size, H)``,
    ``b_w = min(block_size, W)``; for a block that fits this is the paper's
    ``p / block_size**2 * H * W / ((H - block_size + 1) * (W - block_size + 1))``.
    It never exceeds ``p``.

    Args:
        p: target drop probability, ``0 <= p <= 1``.
        block_size: side of the square blocks, ``>= 1``.
        height: feature map height ``H``, ``>= 1``.
        width: feature map width ``W``, ``>= 1``.

    Returns:
        The Bernoulli rate of block seeds in the valid seed region.
    """
    p = check_probability("p", p)
    block_size = check_int("block_size", block_size, low=1)
    height = check_int("height", height, low=1)
    width = check_int("width", width, low=1)
    bh, bw = min(block_size, height), min(block_size, width)
    return p * height * width / (bh * bw) / ((height - bh + 1) * (width - bw + 1))


def drop_block_2d(
    x: torch.Tensor,
    p: float = 0.1,
    training: bool = True,
    *,
    block_size: int = 7,
    gamma_scale: float = 1.0,
    batchwise: bool = False,
    with_noise: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """DropBlock: zero ``block_size x block_size`` squares, then rescale to keep the mean.

    Args:
        x: input of shape ``(N, C, H, W)``, floating point, on any device.
        p: target drop probability, ``0 <= p <= 1`` (``p = 1`` gives zeros).
        training: apply it; when False, return ``x`` itself.
        block_size: side of the dropped squares, ``>= 1``; clipped to ``H`` and ``W``.
        gamma_scale: multiplies the seed rate gamma (timm's knob), ``>= 0``.
        batchwise: one ``(1, C, H, W)`` mask for the whole batch (timm's option).
        with_noise: fill the dropped units with N(0, 1) noise (of the mask's
            shape, drawn after the seeds) instead of zeros, without rescaling.
        generator: the ``torch.Generator`` for the seeds and the noise (on ``x``'s device).

    Returns:
        A tensor of ``x``'s shape, dtype and device: ``x * mask * numel / kept``,
        where ``mask`` is 0 on the dropped blocks and ``kept`` counts its ones
        (zeros when nothing is kept); with ``with_noise``,
        ``x * mask + noise * (1 - mask)``.
    """
    p = check_probability("p", p)
    block_size = check_int("block_size", block_size, low=1)
    gamma_scale = check_float("gamma_scale", gamma_scale, low=0.0)
    check_bool("training", training)
    batchwise = check_bool("batchwise", batchwise)
    with_noise = check_bool("with_noise", with_noise)
    generator = check_generator("generator", generator)
    check_input(x)
    if not training:
        return x
    return _drop_block_2d(x, p, block_size, gamma_scale, batchwise, with_noise, generator)


def _block_mask(
    shape: torch.Size,
    gamma: float,
    block_size: int,
    dtype: torch.dtype,
    device: torch.device,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """The keep mask (1 kept, 0 dropped) of shape ``(N, C, H, W)`` in ``dtype``."""
    n, c, h, w = shape
    bh, bw = min(block_size, h), min(block_size, w)
    # Seeds only where a whole block fits: (H - bh + 1, W - bw + 1) positions.
    seeds = ~keep_mask((n, c, h - bh + 1, w - bw + 1), gamma, device=device, generator=generator)
    # Padding by b-1 on each side, then a b-wide max-pool with stride 1, marks
    # every unit whose block [i, i+b) x [j, j+b) contains a seed.
    padded = F.pad(seeds.to(dtype), (bw - 1, bw - 1, bh - 1, bh - 1))
    dropped = F.max_pool2d(padded, kernel_size=(bh, bw), stride=1)
    return 1.0 - dropped


def _drop_block_2d(
    x: torch.Tensor,
    p: float,
    block_size: int,
    gamma_scale: float,
    batchwise: bool,
    with_noise: bool,
    generator: torch.Generator | None,
) -> torch.Tensor:
    if x.dim() != 4:
        raise InvalidArgumentError(
            "Invalid value received for argument `x`. Expected a 4-D tensor (N, C, H, W). "
            f"Received: x.shape={tuple(x.shape)}"
        )
    if p == 0.0 or x.numel() == 0:
        return x
    if p == 1.0 and not with_noise:
        return x.mul(0.0)
    n, c, h, w = x.shape
    gamma = min(1.0, gamma_scale * drop_block_gamma(p, block_size, h, w))
    # float64 inputs get a float64 scale; everything else float32 (exact 0/1 and sums).
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    mask_shape = torch.Size((1 if batchwise else n, c, h, w))
    mask = _block_mask(mask_shape, gamma, block_size, dtype, x.device, generator)
    if with_noise:
        noise = torch.randn(mask_shape, generator=generator, dtype=x.dtype, device=x.device)
        mask = mask.to(x.dtype)
        return x * mask + noise * (1.0 - mask)
    # numel / kept, computed on the device (no host sync); when nothing is kept
    # the mask is all zeros, so the clamp only avoids 0/0.
    scale = mask.numel() / mask.sum().clamp_min(1.0)
    return x * (mask * scale).to(x.dtype)


class DropBlock2d(StochasticModule):
    """Module form of :func:`drop_block_2d`; the identity in eval mode and when ``p == 0``.

    Args:
        p: target drop probability, ``0 <= p <= 1``.
        block_size: side of the dropped squares, ``>= 1``; clipped to ``H`` and ``W``.
        gamma_scale: multiplies the seed rate gamma, ``>= 0``.
        batchwise: one ``(1, C, H, W)`` mask for the whole batch.
        with_noise: fill the dropped units with N(0, 1) noise, without rescaling.
        generator: optional ``torch.Generator`` for reproducible masks.

    Shape: input ``(N, C, H, W)``, output ``(N, C, H, W)``.
    """

    def __init__(
        self,
        p: float = 0.1,
        *,
        block_size: int = 7,
        gamma_scale: float = 1.0,
        batchwise: bool = False,
        with_noise: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.block_size = check_int("block_size", block_size, low=1)
        self.gamma_scale = check_float("gamma_scale", gamma_scale, low=0.0)
        self.batchwise = check_bool("batchwise", batchwise)
        self.with_noise = check_bool("with_noise", with_noise)
        self.generator = check_generator("generator", generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        if not self.training or self.p == 0.0:
            return x
        return _drop_block_2d(
            x, self.p, self.block_size, self.gamma_scale, self.batchwise, self.with_noise, self.generator
        )

    def extra_repr(self) -> str:
        text = f"p={self.p}, block_size={self.block_size}, gamma_scale={self.gamma_scale}"
        if self.batchwise:
            text += ", batchwise=True"
        return text + (", with_noise=True" if self.with_noise else "")
