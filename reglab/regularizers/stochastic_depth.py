"""Stochastic depth (DropPath): whole samples of a residual branch dropped at once.

Huang et al. (2016), "Deep Networks with Stochastic Depth", with timm's
semantics: one keep/drop decision per **sample** (dim 0), survivors scaled by
``1 / (1 - p)`` (when ``scale_by_keep``). Used on residual branches:
``x + drop_path(f(x), p, self.training)``.

Convention: ``p`` is the **drop** probability, as everywhere in reglab. ``p = 0``
and eval mode are the identity (the input object itself is returned); ``p = 1``
gives zeros. The functional form takes ``training`` explicitly, with no
default: timm's ``drop_path(x, p)`` is a no-op unless told it is training,
torchvision's ``stochastic_depth`` drops by default, and a default either way
would silently change ported code.

Shapes: ``(N, *)``; the mask is ``(N, 1, ..., 1)``.

Per-depth rates. Deep networks drop deeper blocks more often: block ``i`` of
``L`` gets ``p_i = rate * i / (L - 1)`` (0 for the first block, ``rate`` for
the last; Huang et al.'s linear decay rule, as timm's ``drop_path_rate``), see
:func:`drop_path_rates`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, overload

import torch

from ..core.checks import check_bool, check_generator, check_int, check_probability, invalid_argument
from ..core.errors import InvalidArgumentError
from .base import StochasticModule, check_input
from .masks import apply_mask, keep_mask

__all__ = ["drop_path", "DropPath", "drop_path_rates"]


def _scale(p: float, scale_by_keep: bool) -> float:
    return 1.0 / (1.0 - p) if scale_by_keep and p < 1.0 else 1.0


def drop_path(
    x: torch.Tensor,
    p: float,
    training: bool,
    *,
    scale_by_keep: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Stochastic depth: zero whole samples with probability ``p``.

    Args:
        x: input of shape ``(N, *)``, floating point, on any device.
        p: drop probability of each sample, ``0 <= p <= 1``.
        training: apply it; when False, return ``x`` itself. Required (no
            default): pass the module's ``self.training``.
        scale_by_keep: scale the kept samples by ``1 / (1 - p)``.
        generator: the ``torch.Generator`` for the mask (on ``x``'s device).

    Returns:
        A tensor of ``x``'s shape, dtype and device; sample ``n`` is either
        all zeros or ``x[n] / (1 - p)`` (``x[n]`` without ``scale_by_keep``).
    """
    p = check_probability("p", p)
    check_bool("training", training)
    check_bool("scale_by_keep", scale_by_keep)
    generator = check_generator("generator", generator)
    check_input(x)
    if not training:
        return x
    return _drop_path(x, p, scale_by_keep, generator)


def _drop_path(x: torch.Tensor, p: float, scale_by_keep: bool, generator: torch.Generator | None) -> torch.Tensor:
    if p == 0.0 or x.numel() == 0:
        return x
    if x.dim() == 0:
        raise InvalidArgumentError(
            "Invalid value received for argument `x`. Expected a tensor with a batch dimension (N, *). "
            "Received: x.shape=()"
        )
    mask = keep_mask((x.shape[0],), p, device=x.device, generator=generator)
    mask = mask.view((x.shape[0],) + (1,) * (x.dim() - 1))
    return apply_mask(x, mask, _scale(p, scale_by_keep), inplace=False)


class DropPath(StochasticModule):
    """Module form of :func:`drop_path`; the identity in eval mode and when ``p == 0``.

    Args:
        p: drop probability of each sample, ``0 <= p <= 1``.
        scale_by_keep: scale the kept samples by ``1 / (1 - p)``.
        generator: optional ``torch.Generator`` for reproducible masks.

    Shape: input ``(N, *)``, output ``(N, *)``, the same.
    """

    def __init__(self, p: float = 0.0, *, scale_by_keep: bool = True, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.scale_by_keep = check_bool("scale_by_keep", scale_by_keep)
        self.generator = check_generator("generator", generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x)
        if not self.training or self.p == 0.0:
            return x
        return _drop_path(x, self.p, self.scale_by_keep, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, scale_by_keep={self.scale_by_keep}"


@overload
def drop_path_rates(rate: float, depths: int | Sequence[int], *, per_stage: Literal[False] = False) -> list[float]: ...


@overload
def drop_path_rates(rate: float, depths: Sequence[int], *, per_stage: Literal[True]) -> list[list[float]]: ...


def drop_path_rates(
    rate: float, depths: int | Sequence[int], *, per_stage: bool = False
) -> list[float] | list[list[float]]:
    """Drop-path rates rising linearly with depth, from 0 to ``rate``.

    The rates are timm's (``calculate_drop_path_rates``, the ``dpr`` list of its
    models): ``torch.linspace(0, rate, total_depth)`` read back as Python floats.

    Args:
        rate: the last block's drop probability, ``0 <= rate <= 1``.
        depths: the number of blocks, or the blocks per stage (e.g. ``[2, 2, 6, 2]``).
        per_stage: with a list of depths, return one list per stage (the same
            rates split by stage) instead of one flat list.

    Returns:
        One rate per block (``[0.0, ..., rate]``), or per stage with ``per_stage``.
    """
    rate = check_probability("rate", rate)
    check_bool("per_stage", per_stage)
    expected = "a number of blocks >= 1 or a sequence of blocks per stage (each >= 1)"
    if isinstance(depths, Sequence) and not isinstance(depths, (str, bytes)):
        stages = [check_int("depths", d, low=1) for d in depths]
        if not stages:
            raise invalid_argument("depths", expected, depths)
    else:
        if per_stage:
            raise invalid_argument("depths", "a sequence of blocks per stage (per_stage=True)", depths)
        stages = [check_int("depths", depths, low=1)]
    rates = torch.linspace(0, rate, sum(stages), device="cpu")
    if per_stage:
        return [chunk.tolist() for chunk in rates.split(stages)]
    return rates.tolist()
