"""Running a dropout target on fixed inputs for the checks of :mod:`reglab.conformance.dropout`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ._report import describe_exception as _describe
from ._target import DropoutTarget

COLUMNS = 256  # inputs are (n // COLUMNS, COLUMNS): neighbours along both dims

# ``call(x, training)``: what the target returns, which Session.run checks is a tensor.
Call = Callable[[torch.Tensor, bool], Any]


class Raised(Exception):
    """The target raised where it should not have; carries a one-line description."""


def fmt(values: Sequence[float], spec: str = ".4f") -> str:
    return "/".join(format(v, spec) for v in values)


class Session:
    """Runs the target on fixed inputs and memoizes the training-mode outputs per (p, dtype).

    The inputs are ``(n // COLUMNS, COLUMNS)`` by default, or of ``shape``.
    """

    def __init__(
        self,
        target: DropoutTarget,
        p_values: tuple[float, ...],
        n: int,
        device: torch.device,
        *,
        shape: tuple[int, ...] | None = None,
    ) -> None:
        self.target, self.p_values, self.device = target, p_values, device
        # Values in [1, 2): an output is zero exactly where the input was dropped.
        if shape is None:
            shape = (max(2, n // COLUMNS), COLUMNS)
        self.x64 = 1.0 + torch.rand(shape, dtype=torch.float64, device=device)
        self.n = self.x64.numel()
        self._bound: dict[float, Call] = {}
        self._outputs: dict[tuple[float, torch.dtype], torch.Tensor] = {}

    def bound(self, p: float) -> Call:
        if p not in self._bound:
            try:
                self._bound[p] = self.target.bind(p)
            except Exception as exc:
                raise Raised(f"building it with p={p} raised {_describe(exc)}") from exc
        return self._bound[p]

    def run(self, p: float, x: torch.Tensor, training: bool = True) -> torch.Tensor:
        call = self.bound(p)
        try:
            with torch.no_grad():
                y = call(x.clone(), training)
        except Exception as exc:
            raise Raised(f"calling it with p={p} raised {_describe(exc)}") from exc
        if not isinstance(y, torch.Tensor):
            raise Raised(f"with p={p} it returned a {type(y).__name__}, not a tensor")
        if y.shape != x.shape:
            raise Raised(f"with p={p} it returned shape {tuple(y.shape)} for input shape {tuple(x.shape)}")
        return y

    def output(self, p: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        key = (p, dtype)
        if key not in self._outputs:
            self._outputs[key] = self.run(p, self.x64.to(dtype))
        return self._outputs[key]

    def kept(self, p: float) -> torch.Tensor:
        return self.output(p) != 0
