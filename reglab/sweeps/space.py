"""Search spaces: the axes of a sweep read as ranges to sample (``--backend optuna``).

Each ``key=...`` axis becomes one dimension:

- ``key=log:A:B`` (no count): a continuous range, sampled log-uniformly;
  ``key=lin:A:B``: uniformly. An integer setting stays an integer
  (``hidden1=log:16:512`` samples whole numbers; A and B must be whole).
- anything a grid accepts (``key=v1,v2,...``, ``key=log:A:B:N``): the listed
  values as a categorical choice; a single value fixes the setting.

Keys, types and values are checked as for a grid (:mod:`reglab.sweeps.grid`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigError
from ..runs.sweep_spec import SweepSpec
from .grid import Grid, axis_example, parse_axis, split_axis

__all__ = ["Dimension", "SearchSpace", "parse_space", "single_point_grid"]

KINDS = ("float", "int", "categorical")


@dataclass(frozen=True)
class Dimension:
    """One axis of a search space.

    Attributes:
        key: the setting or knob.
        kind: ``"float"`` or ``"int"`` (a range from ``low`` to ``high``, both
            included) or ``"categorical"`` (one of ``choices``).
        low, high: the range's ends (None for a categorical).
        log: sample the range log-uniformly.
        choices: the values of a categorical dimension.
    """

    key: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def ends(self) -> tuple[Any, ...]:
        """The extreme values (a range's ends, or every choice), to check before searching."""
        if self.kind == "categorical":
            return self.choices
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            return (round(self.low), round(self.high))
        return (self.low, self.high)

    def to_json(self) -> dict[str, Any]:
        if self.kind == "categorical":
            return {"kind": self.kind, "choices": list(self.choices)}
        return {"kind": self.kind, "low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True)
class SearchSpace:
    """The dimensions of a search, in the order given."""

    dims: tuple[Dimension, ...]

    @property
    def keys(self) -> list[str]:
        return [d.key for d in self.dims]

    def corners(self) -> list[dict[str, Any]]:
        """Points that together take every dimension's extreme values (the others at
        their first end): building their configs checks the whole space's ranges."""
        first = {d.key: d.ends()[0] for d in self.dims}
        points = [first]
        for d in self.dims:
            points += [{**first, d.key: value} for value in d.ends()[1:]]
        return points

    def to_json(self) -> dict[str, Any]:
        return {d.key: d.to_json() for d in self.dims}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchSpace:
        dims = []
        for key, d in data.items():
            if d["kind"] == "categorical":
                choices = tuple(tuple(c) if isinstance(c, list) else c for c in d["choices"])
                dims.append(Dimension(key, "categorical", choices=choices))
            else:
                dims.append(Dimension(key, d["kind"], d["low"], d["high"], bool(d["log"])))
        return cls(tuple(dims))


def single_point_grid(point: dict[str, Any]) -> Grid:
    """The grid of one point, to expand into its trials (seeds and folds)."""
    return Grid(tuple((k, (v,)) for k, v in point.items()))


def _continuous(key: str, raw: str, example: Any) -> Dimension:
    kind, start, stop = raw.split(":")
    try:
        low, high = float(start), float(stop)
    except ValueError:
        raise ConfigError(f"range for `{key}` must be {kind}:START:STOP with numbers; received {raw!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ConfigError(f"range for `{key}` needs finite START < STOP; received {raw!r}")
    if kind == "log" and low <= 0:
        raise ConfigError(f"log range for `{key}` needs START and STOP > 0; received {raw!r}")
    if isinstance(example, bool) or not isinstance(example, (int, float)):
        raise ConfigError(f"setting `{key}` is not a number ({type(example).__name__}); list its values: {key}=v1,v2")
    if isinstance(example, int):
        if low != round(low) or high != round(high):
            raise ConfigError(f"setting `{key}` expects integers; range {raw!r} has ends that are not whole")
        return Dimension(key, "int", float(round(low)), float(round(high)), kind == "log")
    return Dimension(key, "float", low, high, kind == "log")


def _is_continuous(raw: str) -> bool:
    parts = raw.split(":")
    return len(parts) == 3 and parts[0] in ("log", "lin")


def parse_space(axes: Iterable[str], config_type: type, spec: SweepSpec | None = None) -> SearchSpace:
    """Parse the axes of a search; a key may appear once (see the module's docstring)."""
    dims: list[Dimension] = []
    for text in axes:
        key, raw = split_axis(text)
        if _is_continuous(raw):
            dim = _continuous(key, raw, axis_example(key, config_type, spec))
        else:
            key, values = parse_axis(text, config_type, spec)
            dim = Dimension(key, "categorical", choices=values)
        if any(d.key == dim.key for d in dims):
            raise ConfigError(f"sweep key `{dim.key}` is given twice; give one range or list per key")
        dims.append(dim)
    if not any(d.kind != "categorical" or len(d.choices) > 1 for d in dims):
        raise ConfigError("a search needs at least one range or choice to search, e.g. lr=log:0.01:1")
    return SearchSpace(tuple(dims))
