"""Sweep plots: train, validation and test metric against each knob.

For a knob with several values, the other knobs are held at the selected
configuration's values (the test-optimal one when there is no selection), so
each figure is a slice through the chosen point. Lines are means over seeds,
bands one standard deviation; lambda-like knobs (and any positive knob spanning
two decades or more) get a log axis (symlog when 0 is among the values), and
so does a positive loss spanning two decades or more.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from ..runs.sweep_spec import SPLITS, SweepSpec

__all__ = ["knob_figure", "plottable_knobs"]

_COLORS = {"train": "tab:blue", "val": "tab:orange", "test": "tab:green"}


def plottable_knobs(configs: Sequence[dict[str, Any]], knobs: Sequence[str]) -> list[str]:
    """Knobs with at least two numeric values."""
    out = []
    for k in knobs:
        values = {c[k] for c in configs if isinstance(c[k], numbers.Real) and not isinstance(c[k], bool)}
        if len(values) >= 2:
            out.append(k)
    return out


def _log_scale(knob: str, values: Sequence[float], spec: SweepSpec) -> str | None:
    positive = [v for v in values if v > 0]
    wide = len(positive) >= 2 and max(positive) / min(positive) >= 100
    if knob not in spec.log_knobs and not wide:
        return None
    return "symlog" if min(values) <= 0 else "log"


def knob_figure(
    configs: Sequence[dict[str, Any]],
    knobs: Sequence[str],
    knob: str,
    anchor: dict[str, Any] | None,
    spec: SweepSpec,
    experiment: str,
) -> Any:
    """The figure of the metric against ``knob`` (others held at ``anchor``'s values)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    others = [k for k in knobs if k != knob]
    rows = [c for c in configs if anchor is None or all(repr(c[k]) == repr(anchor[k]) for k in others)]
    rows = sorted(rows, key=lambda c: c[knob])
    xs = [float(c[knob]) for c in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    plotted: list[float] = []
    for split in SPLITS:
        key = spec.metric_key(split)
        means = [c.get(f"{key}_mean", math.nan) for c in rows]
        if all(m is None or not math.isfinite(m) for m in means):
            continue
        stds = [c.get(f"{key}_std") or 0.0 for c in rows]
        plotted += [m for m in means if m is not None and math.isfinite(m)]
        ax.plot(xs, means, marker="o", color=_COLORS[split], label=f"{split}")
        ax.fill_between(
            xs,
            [m - s for m, s in zip(means, stds)],
            [m + s for m, s in zip(means, stds)],
            color=_COLORS[split],
            alpha=0.2,
        )
    scale = _log_scale(knob, xs, spec)
    if scale == "symlog":
        positive = [x for x in xs if x > 0]
        ax.set_xscale("symlog", linthresh=min(positive) if positive else 1.0)
    elif scale == "log":
        ax.set_xscale("log")
    # A loss spanning several decades (weight decay: ~100 down to ~0.01) reads on a log axis.
    log_y = spec.mode == "min" and plotted and min(plotted) > 0 and max(plotted) / min(plotted) >= 100
    if log_y:
        ax.set_yscale("log")
    if anchor is not None:
        ax.axvline(float(anchor[knob]), color="gray", linestyle="--", linewidth=1, label="selected")
    fixed = ", ".join(f"{k}={anchor[k]}" for k in others) if anchor is not None and others else ""
    seeds = max((c.get("seeds", 0) for c in rows), default=0)
    ax.set_title(f"{experiment}: {spec.metric} vs {knob}" + (f"\n({fixed})" if fixed else ""), fontsize=10)
    ax.set_xlabel(knob + (" (log scale)" if scale else ""))
    ax.set_ylabel(f"{spec.metric} (mean ± std over {seeds} seed(s))" + (", log scale" if log_y else ""))
    ax.grid(True, alpha=0.3)
    if plotted:
        ax.legend()
    else:  # e.g. every trial failed: an empty plot that says why, not a matplotlib warning
        ax.text(0.5, 0.5, f"no finite {spec.metric} in these trials", transform=ax.transAxes, ha="center")
    fig.tight_layout()
    return fig
