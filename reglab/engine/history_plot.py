"""Training curves of a history: one panel per kind of metric, against epoch.

:func:`plot_history` draws the rows of a :class:`~reglab.engine.state.History`
(or any list of per-epoch dict rows) on a :class:`CurvesFigure`: losses
(``*_loss``) in one panel, accuracies (``*_acc``) in a second, the penalty
term (``*_penalty``) in a third, any other numeric column in a last one;
``epoch`` is the x axis and ``seconds`` is left out. A :class:`CurvesFigure` is
a matplotlib ``Figure`` built without pyplot (nothing global changes, no
figure is left open) that shows itself in a notebook through ``_repr_png_``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

__all__ = ["CurvesFigure", "plot_history", "curve_groups", "figure_png"]

_SKIPPED = ("epoch", "seconds")
_GROUPS = (("_loss", "loss"), ("_acc", "accuracy"), ("_penalty", "penalty"))


def figure_png(figure: Figure, *, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


class CurvesFigure(Figure):
    """A ``Figure`` that a notebook displays inline (``_repr_png_``) without pyplot."""

    def _repr_png_(self) -> bytes:
        return figure_png(self)


def curve_groups(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[str]]]:
    """``[(panel title, [column, ...]), ...]`` for the numeric columns of ``rows``, in column order."""
    columns: list[str] = []
    for row in rows:
        columns += [
            k
            for k, v in row.items()
            if k not in columns and k not in _SKIPPED and isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
    groups: dict[str, list[str]] = {}
    for column in columns:
        title = next((name for suffix, name in _GROUPS if column.endswith(suffix)), "other")
        groups.setdefault(title, []).append(column)
    order = [name for _, name in _GROUPS] + ["other"]
    return [(title, groups[title]) for title in order if title in groups]


def plot_history(
    rows: Sequence[Mapping[str, Any]], *, title: str | None = None, figure: CurvesFigure | None = None
) -> CurvesFigure:
    """Draw ``rows`` (per-epoch dicts with an ``epoch`` column) as training curves.

    Args:
        rows: the history's rows; an empty list gives an empty figure saying so.
        title: the figure's title.
        figure: redraw into this figure (cleared first) instead of a new one.

    Returns:
        The :class:`CurvesFigure`, one panel per group of :func:`curve_groups`.
    """
    groups = curve_groups(rows)
    fig = figure if figure is not None else CurvesFigure()
    fig.clear()
    panels = max(len(groups), 1)
    fig.set_size_inches(4.2 * panels, 3.4)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(rows)]
    for ax, (name, columns) in zip(axes, groups):
        for column in columns:
            values = [row.get(column, math.nan) for row in rows]
            ax.plot(epochs, values, marker="o", markersize=3, label=column)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    if not groups:
        axes[0].text(0.5, 0.5, "no epoch finished yet", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
