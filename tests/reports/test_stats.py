"""Welch's t-test and the group summaries against numbers computed by hand.

The quantile t(0.975, df = 8) = 2.306004 is the printed table value (e.g.
NIST/SEMATECH e-Handbook, table 1.3.6.7.2). Two examples are built so that the
Welch–Satterthwaite degrees of freedom are exactly 8: equal sizes and spreads
(df = 2(n - 1) with n = 5), and n = 6 with one variance 3 times the other
(df = (n - 1)(1 + 3)² / (1 + 3²) = 5 · 16 / 10 = 8).
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from reglab.core.errors import ConfigError
from reglab.reports.stats import describe, welch_difference

pytest.importorskip("scipy", reason="scipy (the stats extra) is not installed")

T_975_DF8 = 2.306004  # table value, 6 decimals
TABLE = 1e-6  # its rounding


def _welch_by_hand(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(t, df, se) of mean(b) - mean(a) with plain numpy formulas."""
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return (b.mean() - a.mean()) / se, df, se


def test_equal_spreads_give_df_8_and_the_table_quantile():
    a = np.array([0.0, 1.0, 2.0, 3.0, 4.0])  # variance 2.5, so se = sqrt(2.5/5 + 2.5/5) = 1
    b = a + T_975_DF8  # t = the 97.5 % quantile itself: p = 0.05, the interval starts at 0
    d = welch_difference(a.tolist(), b.tolist())
    t, df, se = _welch_by_hand(a, b)
    assert se == pytest.approx(1.0) and df == pytest.approx(8.0)
    assert d.estimate == pytest.approx(T_975_DF8, abs=1e-12)
    assert d.t == pytest.approx(t, rel=1e-12) and d.df == pytest.approx(8.0, rel=1e-12)
    assert d.p_value == pytest.approx(0.05, abs=TABLE)
    assert d.low == pytest.approx(0.0, abs=TABLE) and d.high == pytest.approx(2 * T_975_DF8, abs=TABLE)
    assert d.confidence == 0.95 and "Welch" in d.method


def test_unequal_spreads_use_the_welch_satterthwaite_df():
    a = np.array([0.71, 0.74, 0.69, 0.75, 0.72, 0.70])
    b = 0.80 + math.sqrt(3.0) * (a - a.mean())  # variance exactly 3x a's
    d = welch_difference(a.tolist(), b.tolist())
    t, df, se = _welch_by_hand(a, b)
    assert df == pytest.approx(8.0, rel=1e-12)
    assert d.df == pytest.approx(df, rel=1e-9) and d.t == pytest.approx(t, rel=1e-9)
    assert d.estimate == pytest.approx(0.80 - a.mean(), rel=1e-12)
    half = T_975_DF8 * se
    assert d.low == pytest.approx(d.estimate - half, abs=TABLE * se) and d.high == pytest.approx(
        d.estimate + half, abs=TABLE * se
    )
    # the interval is the one of mean(b) - mean(a): swapping the groups mirrors it
    swapped = welch_difference(b.tolist(), a.tolist())
    assert (swapped.low, swapped.high) == pytest.approx((-d.high, -d.low)) and swapped.p_value == pytest.approx(
        d.p_value
    )


def test_describe_gives_n_mean_sample_std_min_max():
    d = describe([1.0, 2.0, 4.0])
    assert (d.n, d.min, d.max) == (3, 1.0, 4.0)
    assert d.mean == pytest.approx(7 / 3)
    assert d.std == pytest.approx(math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2))
    one = describe([0.5])
    assert one.n == 1 and one.mean == 0.5 and math.isnan(one.std)


def test_groups_need_two_values_and_no_spread_gives_no_interval():
    with pytest.raises(ConfigError, match="at least 2 values in each group; received 1 and 3"):
        welch_difference([0.5], [0.1, 0.2, 0.3])
    flat = welch_difference([0.5, 0.5], [0.6, 0.6])
    assert flat.estimate == pytest.approx(0.1) and math.isnan(flat.t) and math.isnan(flat.low)


def test_without_scipy_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)  # `import scipy` now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'reglab\[stats\]'"):
        welch_difference([0.1, 0.2], [0.3, 0.4])
