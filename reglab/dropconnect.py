"""DropConnect: dropout on the weights of a Linear or Conv layer.

Wan, Zeiler, Zhang, LeCun and Fergus, 2013, "Regularization of Neural Networks
using DropConnect". Each forward pass draws a fresh mask over the layer's
**weights** (not its activations) and uses ``weight * mask / (1 - p)``
(inverted scaling, so the expected weight is the weight itself); the bias is
dropped the same way only with ``drop_bias=True``.

Convention: ``p`` is the **drop** probability, as everywhere in reglab.
``p = 0`` and eval mode run the wrapped layer unchanged; ``p = 1`` zeros the
weights. ``mc=True`` keeps the masks on in eval mode too (MC DropConnect, for
predictive uncertainty; see :func:`reglab.mc_predict`).

The wrapper is functional: it calls ``torch.nn.functional.linear`` (or the
conv layer's own convolution, so ``padding_mode`` is honoured) with the masked
weight and never replaces the layer's ``Parameter``s. Hence ``state_dict``
holds exactly the wrapped layer's keys under ``module.``, optimizers see the
original parameters, gradients reach them (masked and scaled), and
``torch.compile`` and DDP work. The mask is drawn per forward pass and shared
by the whole batch (as in the paper's efficient variant).

Shapes: those of the wrapped layer; the weight mask has the weight's shape.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_bool, check_generator, check_probability, invalid_argument
from .drop import StochasticModule, _apply_mask, keep_mask

__all__ = ["drop_connect_weight", "DropConnect"]

_SUPPORTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def drop_connect_weight(
    weight: torch.Tensor, p: float = 0.5, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``weight * mask / (1 - p)`` with a fresh keep mask (keep probability ``1 - p``).

    Differentiable: the gradient reaching ``weight`` is the upstream gradient
    times ``mask / (1 - p)``.

    Args:
        weight: a weight (or bias) tensor of any shape, on any device.
        p: drop probability of each entry, ``0 <= p <= 1``.
        generator: the ``torch.Generator`` for the mask (on ``weight``'s device).

    Returns:
        A new tensor of ``weight``'s shape, dtype and device (``weight`` itself
        when ``p == 0``; zeros when ``p == 1``).
    """
    p = check_probability("p", p)
    generator = check_generator("generator", generator)
    return _drop_connect_weight(weight, p, generator)


def _drop_connect_weight(weight: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
    if p == 0.0:
        return weight
    if p == 1.0:
        return weight.mul(0.0)
    mask = keep_mask(weight.shape, p, device=weight.device, generator=generator)
    return _apply_mask(weight, mask, 1.0 / (1.0 - p), inplace=False)


class DropConnect(StochasticModule):
    """Wrap an ``nn.Linear`` or ``nn.Conv1d/2d/3d`` so that its weights are dropped.

    Args:
        module: the layer to wrap (kept as ``self.module``; its parameters are
            used as they are, never replaced).
        p: drop probability of each weight, ``0 <= p <= 1``.
        mc: stay stochastic in eval mode (MC DropConnect).
        drop_bias: drop the bias entries too (with the same ``p``).
        generator: optional ``torch.Generator`` for reproducible masks.

    Shape: that of the wrapped layer, e.g. ``(N, *, in_features)`` to
    ``(N, *, out_features)`` for Linear, ``(N, C_in, H, W)`` to
    ``(N, C_out, H', W')`` for Conv2d.
    """

    def __init__(
        self,
        module: nn.Module,
        p: float = 0.5,
        mc: bool = False,
        drop_bias: bool = False,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(module, _SUPPORTED):
            raise invalid_argument(
                "module", "an nn.Linear, nn.Conv1d, nn.Conv2d or nn.Conv3d", type(module).__name__
            )
        self.module = module
        self.p = check_probability("p", p)
        self.mc = check_bool("mc", mc)
        self.drop_bias = check_bool("drop_bias", drop_bias)
        self.generator = check_generator("generator", generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training or self.mc) or self.p == 0.0:
            return self.module(x)
        weight = _drop_connect_weight(self.module.weight, self.p, self.generator)
        bias = self.module.bias
        if bias is not None and self.drop_bias:
            bias = _drop_connect_weight(bias, self.p, self.generator)
        if isinstance(self.module, nn.Linear):
            return F.linear(x, weight, bias)
        # The conv layers' own helper applies padding_mode (reflect, circular...)
        # exactly as their forward does.
        return self.module._conv_forward(x, weight, bias)

    def extra_repr(self) -> str:
        return f"p={self.p}, mc={self.mc}, drop_bias={self.drop_bias}"
