"""The numbers of a comparison: per-group summaries and Welch's two-sample t-test.

:func:`describe` gives n, mean, the sample standard deviation (ddof = 1), min
and max of one group's final metric. :func:`welch_difference` gives the
difference of two groups' means with its confidence interval and p-value from
Welch's t-test (unequal variances; B. L. Welch, Biometrika 34, 1947), whose
degrees of freedom are the Welch–Satterthwaite approximation

    se² = s_a²/n_a + s_b²/n_b,   df = se⁴ / ((s_a²/n_a)²/(n_a-1) + (s_b²/n_b)²/(n_b-1)),

computed by scipy (``scipy.stats.ttest_ind(equal_var=False)`` and its
``confidence_interval``), the optional ``reglab[stats]`` extra.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..core.errors import ConfigError

__all__ = ["Description", "Difference", "describe", "welch_difference", "METHOD", "require_scipy"]

METHOD = "Welch's t-test (unequal variances), Welch–Satterthwaite degrees of freedom"


@dataclass(frozen=True)
class Description:
    """One group's final metric: count, mean, sample standard deviation, min, max."""

    n: int
    mean: float
    std: float  # ddof = 1; nan for a single value
    min: float
    max: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Difference:
    """``mean(second) - mean(first)`` with its ``confidence`` interval ``[low, high]``,
    Welch's ``t``, ``df`` and two-sided ``p_value``."""

    estimate: float
    low: float
    high: float
    confidence: float
    t: float
    df: float
    p_value: float
    method: str = METHOD

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def describe(values: Sequence[float]) -> Description:
    """Count, mean, sample standard deviation (nan for one value), min and max of ``values``."""
    if not values:
        nan = math.nan
        return Description(0, nan, nan, nan, nan)
    n = len(values)
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
    return Description(n, mean, std, min(values), max(values))


def require_scipy() -> Any:
    """``scipy.stats``, or a one-sentence error saying which extra to install."""
    try:
        from scipy import stats
    except ImportError:
        raise ConfigError(
            "comparing two groups needs scipy for the Welch t-test and its interval: pip install 'reglab[stats]'"
        ) from None
    return stats


def welch_difference(first: Sequence[float], second: Sequence[float], *, confidence: float = 0.95) -> Difference:
    """Welch's t-test of ``second`` against ``first``: the difference of the means
    ``mean(second) - mean(first)``, its two-sided ``confidence`` interval and p-value.

    Each group needs at least two values; with no spread in either group the
    statistic is undefined and ``t``, the interval and the p-value are nan.
    """
    if len(first) < 2 or len(second) < 2:
        raise ConfigError(
            f"Welch's t-test needs at least 2 values in each group; received {len(first)} and {len(second)}"
        )
    stats = require_scipy()
    estimate = math.fsum(second) / len(second) - math.fsum(first) / len(first)
    if describe(first).std == 0 and describe(second).std == 0:
        nan = math.nan
        return Difference(estimate, nan, nan, confidence, nan, nan, nan)
    result = stats.ttest_ind(list(second), list(first), equal_var=False)
    interval = result.confidence_interval(confidence_level=confidence)
    return Difference(
        estimate,
        float(interval.low),
        float(interval.high),
        confidence,
        float(result.statistic),
        float(result.df),
        float(result.pvalue),
    )
