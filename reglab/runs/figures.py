"""Figures for run directories, drawn with matplotlib's object API.

No pyplot and no global backend change: a :class:`matplotlib.figure.Figure` is
built and saved directly, so plotting works on headless machines and leaves a
notebook's backend alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

__all__ = ["new_figure", "training_curves_figure"]

_LABELS = {
    "train_loss": "train loss",
    "train_acc": "train acc",
    "test_loss": "test loss",
    "test_acc": "test acc",
    "val_loss": "val loss",
    "val_acc": "val acc",
}


def new_figure(width: float = 6.0, height: float = 4.0, *, ncols: int = 1, nrows: int = 1) -> tuple[Figure, Any]:
    """A figure and its axes (an array of axes when there is more than one)."""
    fig = Figure(figsize=(width * ncols, height * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=True)
    return fig, axes


def training_curves_figure(
    rows: Sequence[dict[str, float]],
    *,
    title: str,
    keys: Sequence[str] = ("train_loss", "train_acc", "test_acc"),
) -> Figure:
    """d2l's Animator plot: the given metrics against epoch, on one set of axes."""
    fig, ax = new_figure()
    epochs = [row["epoch"] for row in rows]
    styles = ["-", "m--", "g-.", "r:"]
    for key, style in zip([k for k in keys if rows and k in rows[0]], styles * 2):
        ax.plot(epochs, [row[key] for row in rows], style, label=_LABELS.get(key, key), marker="o", markersize=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss / accuracy")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if epochs:
        ax.set_xlim(min(epochs) - 0.2, max(epochs) + 0.2)
    ax.legend()
    return fig
