"""Weight constraints applied after each optimizer step: max-norm, unit-norm, non-negativity.

Max-norm regularisation is the companion of dropout in Srivastava et al.
(2014, section 5.1): after every update, each hidden unit's incoming weight
vector is rescaled onto the ball ``||w|| <= c`` if it left it. Keras offers
the same set (``MaxNorm``, ``UnitNorm``, ``NonNeg``).

Axis convention: ``axis`` names the dimensions the norm is taken over. The
default (``axis=None``) is one norm per OUTPUT unit, in PyTorch's layouts:
a Linear weight ``(out, in)`` gets one norm per row (over dim 1), a conv
weight ``(out, in, kh, kw)`` one per output channel (over dims 1, 2, 3) —
the same sub-tensors as ``torch.renorm(w, 2, 0, c)``. A 1-D tensor (a bias,
opted in with ``include_bias=True``) is one vector with one norm. (Keras's
``axis=0`` on its ``(in, out)`` kernels is this default.)

A constraint is a callable ``constraint(tensor)`` that changes ``tensor`` in
place under ``torch.no_grad()`` and returns it. The engine's
:class:`reglab.ApplyConstraint` callback calls it on a model's weights after
every optimizer step of :func:`reglab.fit`.
"""

from __future__ import annotations

from typing import Any

import torch

from ..core.checks import check_float, invalid_argument

__all__ = ["Constraint", "MaxNorm", "UnitNorm", "NonNeg"]

# The same guard as torch.renorm's scale factor maxnorm / (norm + 1e-7).
_RENORM_EPS = 1e-7

Axis = int | tuple[int, ...] | None


def _check_axis(axis: Any) -> Axis:
    expected = "None, an integer or a tuple of distinct integers"
    if axis is None:
        return None
    if isinstance(axis, int) and not isinstance(axis, bool):
        return axis
    if (
        isinstance(axis, (tuple, list))
        and axis
        and all(isinstance(a, int) and not isinstance(a, bool) for a in axis)
        and len(set(axis)) == len(axis)
    ):
        return tuple(axis)
    raise invalid_argument("axis", expected, axis)


def _reduce_dims(axis: Axis, ndim: int) -> tuple[int, ...]:
    """The dimensions to take the norm over for a tensor of ``ndim`` dimensions."""
    if axis is None:
        return tuple(range(1, ndim)) if ndim >= 2 else tuple(range(ndim))
    dims = (axis,) if isinstance(axis, int) else axis
    if any(not -ndim <= d < ndim for d in dims) or ndim == 0:
        raise invalid_argument("axis", f"dimensions of a {ndim}-D tensor", axis)
    dims = tuple(d % ndim for d in dims)
    if len(set(dims)) != len(dims):
        raise invalid_argument("axis", f"distinct dimensions of a {ndim}-D tensor", axis)
    return dims


def _norms(w: torch.Tensor, axis: Axis) -> torch.Tensor:
    """Euclidean norms over ``axis`` (keepdim), accumulated in float32 at least for half types."""
    dims = _reduce_dims(axis, w.dim())
    dtype = torch.float32 if w.dtype in (torch.float16, torch.bfloat16) else None
    norms: torch.Tensor = torch.linalg.vector_norm(w, 2, dim=dims, keepdim=True, dtype=dtype)
    return norms


class Constraint:
    """Base class: ``constraint(tensor)`` projects ``tensor`` in place (no autograd) and returns it."""

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        if not isinstance(tensor, torch.Tensor):
            raise invalid_argument("tensor", "a torch.Tensor", tensor)
        if not tensor.is_floating_point():
            raise invalid_argument("tensor", "a floating-point torch.Tensor", tensor)
        with torch.no_grad():
            self._apply(tensor)
        return tensor

    def _apply(self, w: torch.Tensor) -> None:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """Exactly the constructor arguments."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constraint:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MaxNorm(Constraint):
    """Rescale each unit whose norm exceeds ``max_value`` to norm ``max_value``; leave the others untouched.

    The factor is ``max_value / (norm + 1e-7)`` as in ``torch.renorm``, so with
    the default axis ``MaxNorm(c)(w)`` equals ``torch.renorm(w, 2, 0, c)``.

    Args:
        max_value: the largest norm allowed, ``> 0``.
        axis: the dimensions the norm is taken over; None = per output unit.
    """

    def __init__(self, max_value: float = 3.0, axis: Axis = None) -> None:
        self.max_value = check_float("max_value", max_value, low=0.0, low_open=True)
        self.axis = _check_axis(axis)

    def _apply(self, w: torch.Tensor) -> None:
        norms = _norms(w, self.axis)
        scale = torch.where(norms > self.max_value, self.max_value / (norms + _RENORM_EPS), 1.0)
        w.mul_(scale.to(w.dtype))

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


class UnitNorm(Constraint):
    """Rescale each unit to norm 1 (an all-zero unit stays zero).

    Args:
        axis: the dimensions the norm is taken over; None = per output unit.
    """

    def __init__(self, axis: Axis = None) -> None:
        self.axis = _check_axis(axis)

    def _apply(self, w: torch.Tensor) -> None:
        norms = _norms(w, self.axis)
        w.div_(norms.clamp_min(torch.finfo(norms.dtype).tiny).to(w.dtype))

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


class NonNeg(Constraint):
    """Set negative entries to zero."""

    def _apply(self, w: torch.Tensor) -> None:
        w.clamp_(min=0)
