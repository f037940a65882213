"""What every random regularizer shares: the module base classes, the argument
check of the dropout family, and the input checks with their error sentences.

- :class:`StochasticModule`: the marker base of every random regularizer module
  (random in training mode, deterministic in eval mode); :func:`reglab.mc_mode`
  switches on exactly these (and torch's own dropout modules).
- :class:`DropoutBase`: the shell of the dropout family's modules, as torch's
  ``_DropoutNd``: ``p`` (the drop probability), ``inplace`` and ``generator``,
  validated once at construction with the one argument sentence.
- :func:`check_dropout_arguments`: the same validation for the functional forms.
- :func:`check_input`, :func:`check_input_ndim` and :class:`TensorSummary`: refuse
  an input that is not a floating-point tensor, or of the wrong layout, in the one
  sentence, summarising the tensor instead of printing it.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any, ClassVar

import torch
from torch import nn

from ..core.checks import check_bool, check_generator, check_probability, invalid_argument

__all__ = [
    "StochasticModule",
    "DropoutBase",
    "check_dropout_arguments",
    "check_input",
    "check_input_ndim",
    "TensorSummary",
]


class StochasticModule(nn.Module):
    """Base class of reglab's random regularizer modules (the dropout family,
    noise layers, DropPath, DropBlock, DropConnect...).

    Such a module is random in training mode and deterministic in eval mode.
    :func:`reglab.mc_predict` turns on exactly these modules (and torch's own
    dropout modules) and leaves every other layer in eval mode.
    """


def check_dropout_arguments(
    p: Any, training: Any, inplace: Any, generator: Any, *, allow_one: bool = True
) -> tuple[float, torch.Generator | None]:
    """Validate the arguments every dropout function takes; return ``(p, generator)``.

    ``p`` must be in ``[0, 1]`` (``[0, 1)`` with ``allow_one=False``, where p = 1
    has no meaning), ``training`` and ``inplace`` booleans, ``generator`` a
    ``torch.Generator`` or None.
    """
    p = check_probability("p", p, allow_one=allow_one)
    check_bool("training", training)
    check_bool("inplace", inplace)
    return p, check_generator("generator", generator)


class DropoutBase(StochasticModule):
    """The dropout family's module shell: ``p``, ``inplace`` and ``generator``, validated.

    Subclasses implement ``forward`` and may set ``allow_p_one = False`` where
    ``p = 1`` has no meaning (Gaussian and alpha dropout).

    Args:
        p: drop probability, ``0 <= p <= 1``.
        inplace: write the result into the input.
        generator: optional ``torch.Generator`` for reproducible masks.
    """

    allow_p_one: ClassVar[bool] = True

    def __init__(self, p: float = 0.5, inplace: bool = False, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = check_probability("p", p, allow_one=self.allow_p_one)
        self.inplace = check_bool("inplace", inplace)
        self.generator = check_generator("generator", generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class TensorSummary:
    """Stands for a tensor in an error sentence: ``x=<4-D tensor of shape (2, 3, 4, 5)>``,
    or ``x=<2-D torch.int64 tensor of shape (2, 3)>`` with ``with_dtype`` (where the dtype is the fault)."""

    def __init__(self, x: torch.Tensor, *, with_dtype: bool = False) -> None:
        kind = f"{x.dim()}-D {x.dtype}" if with_dtype else f"{x.dim()}-D"
        self.text = f"<{kind} tensor of shape {tuple(x.shape)}>"

    def __repr__(self) -> str:
        return self.text


def check_input(x: Any, name: str = "x") -> torch.Tensor:
    """Refuse an input that is not a floating-point tensor (a list, an integer or bool tensor:
    masks and noise scale values, which an integer dtype cannot hold)."""
    if not isinstance(x, torch.Tensor):
        raise invalid_argument(name, "a floating-point tensor", x)
    if not x.is_floating_point():
        raise invalid_argument(name, "a floating-point tensor", TensorSummary(x, with_dtype=True))
    return x


def check_input_ndim(x: Any, ndims: Container[int], expected: str) -> None:
    """Refuse an input that is not a floating-point tensor, or whose number of dimensions is not one of ``ndims``."""
    if not isinstance(x, torch.Tensor):
        raise invalid_argument("x", expected, x)
    if x.dim() not in ndims:
        raise invalid_argument("x", expected, TensorSummary(x))
    check_input(x)
