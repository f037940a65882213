"""Channel-wise (spatial) dropout: whole feature maps dropped at once.

Tompson et al. (2015), "Efficient Object Localization Using Convolutional
Networks": neighbouring activations of a feature map are strongly correlated,
so dropping single elements barely regularizes a convolutional layer; dropping
whole channels does. Keras calls these SpatialDropout1D/2D/3D, PyTorch
Dropout1d/2d/3d.

Convention: ``p`` is the **drop** probability. One mask value is drawn per
(sample, channel) and broadcast over the spatial dimensions; kept channels are
scaled by ``1 / (1 - p)`` (inverted dropout), so evaluation is the identity.
These are :func:`reglab.dropout` with ``noise_shape=(N, C, 1, ...)``, and the
mask is the one :func:`reglab.keep_mask` draws for that shape.

Shapes (the batch dimension is optional):

- 1d: ``(N, C, L)`` or ``(C, L)``
- 2d: ``(N, C, H, W)`` or ``(C, H, W)``
- 3d: ``(N, C, D, H, W)`` or ``(C, D, H, W)``

Unlike ``torch.nn.functional.dropout2d``, which reads a 3-D input as
``(N, C, L)`` for historical reasons, :func:`dropout2d` reads it as the
unbatched ``(C, H, W)`` its documentation promises. Any other number of
dimensions is an error.
"""

from __future__ import annotations

import torch

from .base import DropoutBase, check_dropout_arguments, check_input_ndim
from .inverted_dropout import broadcast_dropout

__all__ = ["dropout1d", "dropout2d", "dropout3d", "Dropout1d", "Dropout2d", "Dropout3d"]

# Spatial dimensions -> the expected layouts, for the error sentence.
_LAYOUTS = {
    1: "a 2-D (C, L) or 3-D (N, C, L) tensor",
    2: "a 3-D (C, H, W) or 4-D (N, C, H, W) tensor",
    3: "a 4-D (C, D, H, W) or 5-D (N, C, D, H, W) tensor",
}


def _channel_mask_shape(x: torch.Tensor, spatial: int) -> torch.Size:
    """``(N, C, 1, ...)`` for a batched input, ``(C, 1, ...)`` for an unbatched one."""
    check_input_ndim(x, (spatial + 1, spatial + 2), _LAYOUTS[spatial])
    channels = x.dim() - spatial
    return torch.Size(x.shape[:channels] + (1,) * spatial)


def _channel_dropout(
    x: torch.Tensor,
    p: float,
    training: bool,
    inplace: bool,
    generator: torch.Generator | None,
    spatial: int,
) -> torch.Tensor:
    p, generator = check_dropout_arguments(p, training, inplace, generator)
    mask_shape = _channel_mask_shape(x, spatial)
    if not training:
        return x
    return broadcast_dropout(x, p, inplace, mask_shape, generator)


def dropout1d(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Zero whole channels of a 1-D feature map with probability ``p``, scale the rest by ``1/(1-p)``.

    Args:
        x: ``(N, C, L)`` or ``(C, L)``, floating point, on any device.
        p: drop probability of a channel, ``0 <= p <= 1``.
        training: apply dropout; when False, return ``x`` itself.
        inplace: write the result into ``x``.
        generator: the ``torch.Generator`` for the mask (on ``x``'s device).

    Returns:
        A tensor of ``x``'s shape, dtype and device.
    """
    return _channel_dropout(x, p, training, inplace, generator, 1)


def dropout2d(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Zero whole channels of a 2-D feature map with probability ``p``, scale the rest by ``1/(1-p)``.

    Args:
        x: ``(N, C, H, W)`` or ``(C, H, W)``, floating point, on any device.
        p: drop probability of a channel, ``0 <= p <= 1``.
        training: apply dropout; when False, return ``x`` itself.
        inplace: write the result into ``x``.
        generator: the ``torch.Generator`` for the mask (on ``x``'s device).

    Returns:
        A tensor of ``x``'s shape, dtype and device.
    """
    return _channel_dropout(x, p, training, inplace, generator, 2)


def dropout3d(
    x: torch.Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Zero whole channels of a 3-D feature map with probability ``p``, scale the rest by ``1/(1-p)``.

    Args:
        x: ``(N, C, D, H, W)`` or ``(C, D, H, W)``, floating point, on any device.
        p: drop probability of a channel, ``0 <= p <= 1``.
        training: apply dropout; when False, return ``x`` itself.
        inplace: write the result into ``x``.
        generator: the ``torch.Generator`` for the mask (on ``x``'s device).

    Returns:
        A tensor of ``x``'s shape, dtype and device.
    """
    return _channel_dropout(x, p, training, inplace, generator, 3)


class _ChannelDropout(DropoutBase):
    """Shared shell of :class:`Dropout1d`, :class:`Dropout2d` and :class:`Dropout3d`."""

    spatial = 0  # number of spatial dimensions, set by each subclass

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask_shape = _channel_mask_shape(x, self.spatial)  # a wrong layout fails in eval mode too
        if not self.training or self.p == 0.0:
            return x
        return broadcast_dropout(x, self.p, self.inplace, mask_shape, self.generator)


class Dropout1d(_ChannelDropout):
    """Module form of :func:`dropout1d`; the identity in eval mode and when ``p == 0``.

    Args:
        p: drop probability of a channel, ``0 <= p <= 1``.
        inplace: write the result into the input.
        generator: optional ``torch.Generator`` for reproducible masks.

    Shape: input ``(N, C, L)`` or ``(C, L)``, output the same.
    """

    spatial = 1


class Dropout2d(_ChannelDropout):
    """Module form of :func:`dropout2d`; the identity in eval mode and when ``p == 0``.

    Args:
        p: drop probability of a channel, ``0 <= p <= 1``.
        inplace: write the result into the input.
        generator: optional ``torch.Generator`` for reproducible masks.

    Shape: input ``(N, C, H, W)`` or ``(C, H, W)``, output the same.
    """

    spatial = 2


class Dropout3d(_ChannelDropout):
    """Module form of :func:`dropout3d`; the identity in eval mode and when ``p == 0``.

    Args:
        p: drop probability of a channel, ``0 <= p <= 1``.
        inplace: write the result into the input.
        generator: optional ``torch.Generator`` for reproducible masks.

    Shape: input ``(N, C, D, H, W)`` or ``(C, D, H, W)``, output the same.
    """

    spatial = 3
