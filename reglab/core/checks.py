"""Argument validation: one helper family and one error sentence for all of reglab.

Every bad argument is reported the same way, at construction time, naming the
argument, what is allowed and what was received::

    Invalid value received for argument `p`. Expected a float between 0 and 1.
    Received: p=1.5

Booleans are never accepted where numbers are expected (``True`` is an ``int``
in Python, but ``p=True`` is a mistake), NaN is never inside any range, and
integers are accepted where floats are expected.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import torch

from .errors import InvalidArgumentError

__all__ = [
    "invalid_argument",
    "shown_value",
    "check_float",
    "check_probability",
    "check_int",
    "check_bool",
    "check_choice",
    "check_int_tuple",
    "check_generator",
]


_MAX_SHOWN = 200


def shown_value(value: Any) -> str:
    """The received value as the sentence shows it: its repr, on one line and short. A tensor is
    summarised (``<2-D torch.int64 tensor of shape (2, 3)>``), never printed; a value whose repr
    spans lines (a module) is named by its type."""
    if isinstance(value, torch.Tensor):
        return f"<{value.dim()}-D {value.dtype} tensor of shape {tuple(value.shape)}>"
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the error being reported
        text = f"<{type(value).__name__} object>"
    if "\n" in text:
        return f"<{type(value).__name__} object>"
    return text if len(text) <= _MAX_SHOWN else f"{text[: _MAX_SHOWN - 20]}...{text[-15:]}"


def invalid_argument(name: str, expected: str, value: Any) -> InvalidArgumentError:
    """Build (not raise) the one error sentence reglab uses for bad arguments (one line: see
    :func:`shown_value` for how the received value is shown)."""
    return InvalidArgumentError(
        f"Invalid value received for argument `{name}`. Expected {expected}. Received: {name}={shown_value(value)}"
    )


def _is_real(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, torch.Tensor):
        return False  # a tensor p would silently turn into a graph; refuse it
    return isinstance(value, numbers.Real)


def _range_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    def fmt(x: float) -> str:
        return f"{x:g}"

    if low is not None and high is not None:
        if not low_open and not high_open:
            return f"between {fmt(low)} and {fmt(high)}"
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        return f"in {left}{fmt(low)}, {fmt(high)}{right}"
    if low is not None:
        return f"{'>' if low_open else '>='} {fmt(low)}"
    if high is not None:
        return f"{'<' if high_open else '<='} {fmt(high)}"
    return "finite"


def check_float(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """Return ``value`` as a float if it is a real number in the given range.

    ``low_open``/``high_open`` make the bound exclusive. NaN is always refused;
    infinities only with ``allow_inf``.
    """
    expected = f"a float {_range_text(low, high, low_open, high_open)}"
    if not _is_real(value):
        raise invalid_argument(name, expected, value)
    x = float(value)
    if math.isnan(x) or (math.isinf(x) and not allow_inf):
        raise invalid_argument(name, expected, value)
    if low is not None and (x < low or (low_open and x == low)):
        raise invalid_argument(name, expected, value)
    if high is not None and (x > high or (high_open and x == high)):
        raise invalid_argument(name, expected, value)
    return x


def check_probability(name: str, value: Any, *, allow_one: bool = True) -> float:
    """A drop probability: ``0 <= p <= 1``, or ``0 <= p < 1`` where p = 1 has no meaning."""
    return check_float(name, value, low=0.0, high=1.0, high_open=not allow_one)


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` if it is an integer (not a bool, not a float) in ``[low, high]``."""
    if low is not None and high is not None:
        expected = f"an integer between {low} and {high}"
    elif low is not None:
        expected = f"an integer >= {low}"
    elif high is not None:
        expected = f"an integer <= {high}"
    else:
        expected = "an integer"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise invalid_argument(name, expected, value)
    x = int(value)
    if (low is not None and x < low) or (high is not None and x > high):
        raise invalid_argument(name, expected, value)
    return x


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid_argument(name, "True or False", value)
    return value


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise invalid_argument(name, f"one of {listed}", value)
    return value


def check_int_tuple(name: str, value: Any, *, length: int | None = None, low: int = 1) -> tuple[int, ...]:
    """An int or a sequence of ints, each ``>= low``; an int is repeated to ``length``."""
    count = f"{length} " if length is not None else ""
    expected = f"an integer >= {low} or a sequence of {count}integers >= {low}"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        items: tuple[Any, ...] = (value,) * (length or 1)
    elif isinstance(value, (tuple, list)):
        items = tuple(value)
    else:
        raise invalid_argument(name, expected, value)
    if length is not None and len(items) != length:
        raise invalid_argument(name, expected, value)
    if not items or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low for v in items):
        raise invalid_argument(name, expected, value)
    return tuple(int(v) for v in items)


def check_generator(name: str, value: Any) -> torch.Generator | None:
    if value is not None and not isinstance(value, torch.Generator):
        raise invalid_argument(name, "a torch.Generator or None", value)
    return value
