"""Experiment configs: frozen dataclasses, ``key=value`` overrides, JSON round trip.

Overrides are parsed as Python literals (``lr=0.1``, ``hidden=(512, 512)``,
``name='x'``; a bare word is taken as a string where the default is a string,
and ``true``/``false`` are accepted for booleans). The parsed value must have
the default's type: an int is accepted for a float (and converted), a list for
a tuple, and nothing else. Unknown keys are an error that lists the valid
ones. Range checks belong to each config's ``__post_init__``, which raises the
one argument-error sentence of :mod:`reglab.core.checks`.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import numbers
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ..core.checks import shown_value
from ..core.errors import ConfigError, InvalidArgumentError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

C = TypeVar("C", bound="DataclassInstance")

__all__ = [
    "parse_literal",
    "shown_literal",
    "parse_override",
    "parse_overrides",
    "apply_overrides",
    "coerce_value",
    "config_to_dict",
    "config_from_dict",
    "describe_config",
    "type_name",
]


def _field_defaults(config_type: type) -> dict[str, Any]:
    if not dataclasses.is_dataclass(config_type):
        raise TypeError(f"{config_type!r} is not a dataclass")
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config_type):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
        else:
            out[f.name] = None
    return out


def type_name(value: Any) -> str:
    if isinstance(value, tuple):
        inner = sorted({type(v).__name__ for v in value})
        return f"tuple of {' or '.join(inner)}" if inner else "tuple"
    return type(value).__name__


def coerce_value(key: str, value: Any, default: Any) -> Any:
    """Check ``value`` against the type of ``default`` and convert int->float, list->tuple."""

    def fail() -> ConfigError:
        return ConfigError(
            f"setting `{key}` expects a {type_name(default)} (default {default!r}); received {shown_value(value)}"
        )

    if default is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise fail()
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise fail()
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise fail()
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise fail()
        return value
    if isinstance(default, tuple):
        if not isinstance(value, (tuple, list)):
            raise fail()
        value = tuple(value)
        if default:
            proto = default[0]
            try:
                return tuple(coerce_value(key, v, proto) for v in value)
            except ConfigError:
                raise fail() from None
        return value
    if not isinstance(value, type(default)):
        raise fail()
    return value


#: The longest literal accepted: far beyond any setting, short enough that no parse takes long.
MAX_LITERAL_CHARS = 10_000


def parse_literal(raw: str) -> Any:
    """``ast.literal_eval(raw)``, with every failure as ``ValueError``: also a literal so deep
    or so long that Python's parser gives up (``RecursionError``, ``MemoryError``). Nothing is
    ever executed."""
    if len(raw) > MAX_LITERAL_CHARS:
        raise ValueError(f"longer than {MAX_LITERAL_CHARS} characters")
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError(str(exc)) from None


def shown_literal(raw: str) -> str:
    """``raw`` for an error sentence: its repr, shortened in the middle when long."""
    text = repr(raw)
    return text if len(text) <= 80 else f"{text[:40]}...{text[-20:]} ({len(raw)} characters)"


def _shown_key(key: str) -> str:
    """A key for an error sentence: `lr`, or its shortened repr when it is long or not printable."""
    return f"`{key}`" if len(key) <= 60 and key.isprintable() else shown_literal(key)


def parse_override(text: str, defaults: Mapping[str, Any]) -> tuple[str, Any]:
    """Parse one ``key=value`` string against the defaults; return ``(key, value)``."""
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(
            f"override {shown_literal(text) if isinstance(text, str) else repr(text)} is not of the form key=value"
        )
    key, raw = text.split("=", 1)
    key = key.strip()
    if key not in defaults:
        valid = ", ".join(defaults)
        raise ConfigError(f"unknown setting {_shown_key(key)}; valid settings are: {valid}")
    default = defaults[key]
    raw = raw.strip()
    try:
        value = parse_literal(raw)
    except ValueError:
        if isinstance(default, bool) and raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        elif isinstance(default, str):
            value = raw
        else:
            raise ConfigError(
                f"setting `{key}` expects a {type_name(default)} (default {default!r}); "
                f"could not parse {shown_literal(raw)} as a Python literal"
            ) from None
    return key, coerce_value(key, value, default)


def parse_overrides(config_type: type, overrides: Iterable[str]) -> dict[str, Any]:
    defaults = _field_defaults(config_type)
    return _parse_all(overrides, defaults)


def _parse_all(overrides: Iterable[str], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Every ``key=value``; a key given twice is refused (the later one would silently win)."""
    parsed: dict[str, Any] = {}
    raw: dict[str, str] = {}
    for text in overrides:
        key, value = parse_override(text, defaults)
        if key in parsed:
            raise ConfigError(f"setting `{key}` is given twice ({raw[key]}, {text.strip()}); give it once")
        parsed[key], raw[key] = value, text.strip()
    return parsed


def apply_overrides(config: C, overrides: Iterable[str] | Mapping[str, Any]) -> C:
    """Return a copy of the frozen ``config`` with the overrides applied and validated.

    ``overrides`` is either ``key=value`` strings or a mapping of already-typed
    values (checked the same way).
    """
    defaults = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    if isinstance(overrides, Mapping):
        changes = {}
        for key, value in overrides.items():
            if key not in defaults:
                raise ConfigError(f"unknown setting `{key}`; valid settings are: {', '.join(defaults)}")
            changes[key] = coerce_value(key, value, defaults[key])
    else:
        if isinstance(overrides, str):
            overrides = [overrides]
        changes = _parse_all(overrides, defaults)
    try:
        return dataclasses.replace(config, **changes)
    except InvalidArgumentError:
        raise
    except TypeError as exc:  # pragma: no cover - guarded by the key check above
        raise ConfigError(str(exc)) from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of the config's fields (tuples become lists)."""
    out: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(config)))
    return out


def config_from_dict(config_type: type[C], data: Mapping[str, Any]) -> C:
    """Rebuild a config from :func:`config_to_dict` output; unknown keys are an error."""
    return apply_overrides(config_type(), dict(data))


def describe_config(config: Any) -> list[tuple[str, str, str, str]]:
    """Rows of (name, type, default, help) for listing an experiment's settings.

    Help text comes from each field's ``metadata["help"]``.
    """
    rows = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        rows.append((f.name, type_name(value), repr(value), f.metadata.get("help", "")))
    return rows
