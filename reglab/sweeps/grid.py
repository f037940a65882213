"""Sweep grids: ``key=v1,v2,...`` and ``key=log:a:b:n`` / ``key=lin:a:b:n`` axes.

Values are parsed as Python literals (``p1=0.1,0.5``, ``hidden1=128,256``,
``sizes=(1,2),(3,4)``), a bare word is a string where the setting is a string,
and every value must have the setting's type (an int is accepted for a float).
Ranges: ``log:1e-4:10:9`` is 9 values from 1e-4 to 10 evenly spaced in log
scale, ``lin:0:0.8:5`` is 0, 0.2, ..., 0.8 (both ends included; for an integer
setting every value must be a whole number). A range without a count
(``log:1e-4:10``) is continuous: only a search samples it
(:mod:`reglab.sweeps.space`, ``--backend optuna``); a grid refuses it. A key is either a config field of
the experiment or a knob alias of its :class:`~reglab.runs.sweep_spec.SweepSpec`.
The grid is the product of the axes, in the order given.

Errors name the key: an unknown key lists the valid ones; a wrong type, an
empty list, a bad range (a NaN or infinite bound too, a COUNT beyond the sweep's
limit of trials) or a repeated key is refused before any trial runs.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.checks import shown_value
from ..core.errors import ConfigError
from ..runs.config import coerce_value, parse_literal, shown_literal
from ..runs.sweep_spec import SweepSpec

__all__ = ["Grid", "parse_axis", "parse_grid", "point_overrides", "split_axis", "axis_example", "RESERVED"]

# Set by --seeds and --select, never by a grid axis.
RESERVED = ("seed", "val_fraction", "kfold", "fold")


@dataclass(frozen=True)
class Grid:
    """An ordered product of axes: ``axes[key] = (value, ...)``."""

    axes: tuple[tuple[str, tuple[Any, ...]], ...]

    @property
    def keys(self) -> list[str]:
        return [k for k, _ in self.axes]

    def __len__(self) -> int:
        return math.prod(len(v) for _, v in self.axes)

    def points(self) -> list[dict[str, Any]]:
        """Every configuration, as ``{key: value}`` in grid order (last axis fastest)."""
        keys = self.keys
        return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in self.axes))]

    def to_json(self) -> dict[str, list[Any]]:
        return {k: list(v) for k, v in self.axes}

    @classmethod
    def from_json(cls, data: dict[str, list[Any]]) -> Grid:
        return cls(tuple((k, tuple(tuple(x) if isinstance(x, list) else x for x in v)) for k, v in data.items()))


def _defaults(config_type: type) -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(config_type)}


def _range(key: str, raw: str, example: Any, max_values: int | None) -> list[Any]:
    parts = raw.split(":")
    kind = parts[0]
    if len(parts) == 3:
        raise ConfigError(
            f"range {raw!r} for `{key}` has no COUNT: a continuous range is searched by --backend optuna; "
            f"a grid needs {kind}:START:STOP:COUNT"
        )
    if len(parts) != 4:
        raise ConfigError(f"range for `{key}` must be {kind}:START:STOP:COUNT; received {shown_literal(raw)}")
    try:
        start, stop, count = float(parts[1]), float(parts[2]), int(parts[3])
    except ValueError:
        raise ConfigError(
            f"range for `{key}` must be {kind}:START:STOP:COUNT with numbers; received {shown_literal(raw)}"
        ) from None
    if not (math.isfinite(start) and math.isfinite(stop)):
        raise ConfigError(f"range for `{key}` needs finite START and STOP; received {shown_literal(raw)}")
    if count < 1:
        raise ConfigError(f"range for `{key}` needs COUNT >= 1; received {shown_literal(raw)}")
    if max_values is not None and count > max_values:
        raise ConfigError(
            f"range for `{key}` asks for {count} values, more than the sweep's limit of {max_values} trials "
            f"({shown_literal(raw)}); check COUNT, or raise --max-trials to run it knowingly"
        )
    if kind == "log":
        if start <= 0 or stop <= 0:
            raise ConfigError(f"log range for `{key}` needs START and STOP > 0; received {shown_literal(raw)}")
        values = np.logspace(math.log10(start), math.log10(stop), count).tolist()
    else:
        values = np.linspace(start, stop, count).tolist()
    if isinstance(example, int) and not isinstance(example, bool):
        if any(abs(v - round(v)) > 1e-9 * max(1.0, abs(v)) for v in values):
            raise ConfigError(
                f"setting `{key}` expects integers; range {shown_literal(raw)} gives {shown_value(values)}"
            )
        return [round(v) for v in values]
    # Print-friendly floats: 0.30000000000000004 -> 0.3.
    return [float(f"{v:.12g}") for v in values]


def _literals(key: str, raw: str, example: Any) -> list[Any]:
    try:
        value = parse_literal(f"[{raw}]")
    except ValueError:
        words = [w.strip() for w in raw.split(",")]
        if isinstance(example, bool) and all(w.lower() in ("true", "false") for w in words):
            return [w.lower() == "true" for w in words]
        if isinstance(example, str):
            return words
        raise ConfigError(f"could not parse the values of `{key}` ({shown_literal(raw)}) as Python literals") from None
    return list(value)


def split_axis(text: str) -> tuple[str, str]:
    """``"key=values"`` -> ``("key", "values")``, both stripped."""
    if "=" not in text:
        raise ConfigError(f"grid axis {text!r} is not of the form key=v1,v2,... or key=log:a:b:n")
    key, raw = (s.strip() for s in text.split("=", 1))
    return key, raw


def axis_example(key: str, config_type: type, spec: SweepSpec | None = None) -> Any:
    """A value of the type ``key`` takes: its knob's example or the config field's default.
    An unknown key (the valid ones listed) or a reserved one is refused."""
    fields = _defaults(config_type)
    knob = spec.knob(key) if spec is not None else None
    if key in RESERVED:
        raise ConfigError(f"`{key}` is set by the sweep itself (--seeds, --select), not by a grid axis")
    if knob is None and key not in fields:
        valid = [k.name for k in spec.knobs] if spec is not None else []
        valid += [k for k in fields if k not in RESERVED]
        raise ConfigError(f"unknown sweep key `{key}`; valid keys are: {', '.join(valid)}")
    return knob.example if knob is not None else fields[key]


def parse_axis(
    text: str, config_type: type, spec: SweepSpec | None = None, *, max_values: int | None = None
) -> tuple[str, tuple[Any, ...]]:
    """Parse one ``key=values`` axis against the config's field types; a range of more than
    ``max_values`` values is refused before any value is made.

    Returns:
        ``(key, values)`` with every value coerced to the setting's type.
    """
    key, raw = split_axis(text)
    example = axis_example(key, config_type, spec)
    if not raw:
        raise ConfigError(f"`{key}` has no values: give at least one, e.g. {key}={example!r}")
    head = raw.split(":", 1)[0]
    if head in ("log", "lin") and ":" in raw:
        values = _range(key, raw, example, max_values)
    else:
        values = _literals(key, raw, example)
    if not values:
        raise ConfigError(f"`{key}` has no values: give at least one, e.g. {key}={example!r}")
    coerced = tuple(coerce_value(key, v, example) for v in values)
    if len(set(map(repr, coerced))) != len(coerced):
        raise ConfigError(f"`{key}` lists a value twice: {shown_value(list(coerced))}")
    return key, coerced


def parse_grid(
    axes: Iterable[str], config_type: type, spec: SweepSpec | None = None, *, max_values: int | None = None
) -> Grid:
    """Parse all axes; a key may appear once. An empty grid is one configuration. A range of
    more than ``max_values`` values is refused before it is made (see :func:`parse_axis`)."""
    parsed: list[tuple[str, tuple[Any, ...]]] = []
    for text in axes:
        key, values = parse_axis(text, config_type, spec, max_values=max_values)
        if any(k == key for k, _ in parsed):
            raise ConfigError(f"sweep key `{key}` is given twice; list all its values in one axis")
        parsed.append((key, values))
    return Grid(tuple(parsed))


def point_overrides(point: dict[str, Any], spec: SweepSpec) -> dict[str, Any]:
    """Config overrides of one grid point: knob aliases expanded, plain fields as they are."""
    out: dict[str, Any] = dict(spec.base)
    for key, value in point.items():
        knob = spec.knob(key)
        out.update(knob.overrides(value) if knob is not None else {key: value})
    return out
