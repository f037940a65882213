"""d2l's plotting helpers: live in a notebook, PNG files in a terminal.

d2l draws with ``IPython.display`` only, so outside Jupyter its ``Animator``
shows nothing (or fails when IPython is missing). Here every figure helper
works in both places: in a notebook (an IPython kernel) it displays inline as
d2l does; elsewhere matplotlib runs on the non-interactive Agg backend and the
figure is written to a PNG under ``$REGLAB_D2L_FIGURES`` (default
``./d2l-figures``), its path printed once. Nothing ever blocks on a window.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import sys
import time
import weakref
from pathlib import Path
from typing import Any

import matplotlib

__all__ = [
    "FIGURES_ENV",
    "in_notebook",
    "figures_dir",
    "use_svg_display",
    "set_figsize",
    "set_axes",
    "plot",
    "show_images",
    "Animator",
    "plt",  # pyplot, imported here after the backend choice; reglab.d2l exports it as the book does
]

FIGURES_ENV = "REGLAB_D2L_FIGURES"
_SAVE_EVERY_S = 2.0  # terminal Animators rewrite their PNG at most this often while points come
_counter = itertools.count(1)


def in_notebook() -> bool:
    """True inside a Jupyter (IPython kernel) session."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


# Outside notebooks, a GUI backend could open windows or block; Agg never does.
# Respect an explicit MPLBACKEND and a pyplot the user already set up.
if not in_notebook() and "MPLBACKEND" not in os.environ and "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")

from matplotlib import pyplot as plt  # noqa: E402  (after the backend choice)


def figures_dir() -> Path:
    """Where terminal runs write their figures (``$REGLAB_D2L_FIGURES`` or ``./d2l-figures``)."""
    return Path(os.environ.get(FIGURES_ENV) or "d2l-figures")


def _new_png_path(stem: str) -> Path:
    folder = figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{stem}-{os.getpid()}-{next(_counter)}.png"


def _publish(fig: Any, stem: str) -> Path | None:
    """Show ``fig`` inline in a notebook, else save it to a new PNG and print the path."""
    if in_notebook():
        from IPython import display

        display.display(fig)
        return None
    path = _new_png_path(stem)
    # "tight" grows the image to every artist: two-line titles above a row of images are not cut off.
    fig.savefig(path, dpi=100, bbox_inches="tight", pad_inches=0.1)
    print(f"reglab.d2l: figure written to {path}")
    return path


def use_svg_display() -> None:
    """Use SVG for inline figures in Jupyter (no effect outside a notebook)."""
    if not in_notebook():
        return
    try:
        from matplotlib_inline import backend_inline
    except ImportError:  # older IPython
        return
    backend_inline.set_matplotlib_formats("svg")


def set_figsize(figsize: tuple[float, float] = (3.5, 2.5)) -> None:
    """Set matplotlib's default figure size (inches)."""
    use_svg_display()
    plt.rcParams["figure.figsize"] = figsize


def set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend) -> None:
    """Set labels, limits, scales, legend and grid of one matplotlib ``Axes``."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xscale(xscale)
    axes.set_yscale(yscale)
    axes.set_xlim(xlim)
    axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid()


def _has_one_axis(X: Any) -> bool:
    return (hasattr(X, "ndim") and X.ndim == 1) or (isinstance(X, list) and not hasattr(X[0], "__len__"))


def _as_plottable(values: Any) -> Any:
    """Tensors (possibly on the GPU or requiring grad) become numpy arrays."""
    if hasattr(values, "detach"):
        return values.detach().cpu().numpy()
    return values


def plot(
    X,
    Y=None,
    xlabel=None,
    ylabel=None,
    legend=None,
    xlim=None,
    ylim=None,
    xscale="linear",
    yscale="linear",
    fmts=("-", "m--", "g-.", "r:"),
    figsize=(3.5, 2.5),
    axes=None,
) -> None:
    """Plot one or several curves, as d2l's ``plot``.

    ``X`` (and ``Y``) are one sequence or a list of sequences; with ``Y=None``
    the values in ``X`` are plotted against their index. Outside a notebook the
    figure is also written to a PNG (see the module doc).
    """
    if legend is None:
        legend = []
    set_figsize(figsize)
    axes = axes if axes else plt.gca()
    X = [_as_plottable(x) for x in X] if isinstance(X, (list, tuple)) and not _has_one_axis(X) else _as_plottable(X)
    if Y is not None:
        Y = [_as_plottable(y) for y in Y] if isinstance(Y, (list, tuple)) and not _has_one_axis(Y) else _as_plottable(Y)
    if _has_one_axis(X):
        X = [X]
    if Y is None:
        X, Y = [[]] * len(X), X
    elif _has_one_axis(Y):
        Y = [Y]
    if len(X) != len(Y):
        X = X * len(Y)
    axes.cla()
    for x, y, fmt in zip(X, Y, fmts):
        if len(x):
            axes.plot(x, y, fmt)
        else:
            axes.plot(y, fmt)
    set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
    if not in_notebook():
        _publish(axes.figure, "plot")


def show_images(imgs, num_rows, num_cols, titles=None, scale=1.5):
    """Draw a grid of images, as d2l's ``show_images``.

    Args:
        imgs: images, each ``(H, W)`` or ``(H, W, C)`` (tensors on any device, or arrays).
        num_rows, num_cols: grid shape.
        titles: optional titles, one per image.
        scale: inches per grid cell.

    Returns:
        The flat numpy array of the grid's ``Axes`` (as d2l).
    """
    figsize = (num_cols * scale, num_rows * scale)
    fig, axes = plt.subplots(num_rows, num_cols, figsize=figsize, squeeze=False)
    axes = axes.flatten()
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        ax.imshow(_as_plottable(img))
        ax.axes.get_xaxis().set_visible(False)
        ax.axes.get_yaxis().set_visible(False)
        if titles:
            ax.set_title(titles[i])
    if not in_notebook():
        _publish(fig, "images")
    return axes


class _Canvas:
    """What a terminal Animator draws and where, kept apart from the Animator itself, so
    that its finalizer can still draw and save the figure once the Animator is gone."""

    def __init__(self, fig: Any, axes: Any, fmts: Any, config_axes: Any) -> None:
        self.fig, self.axes, self.fmts, self.config_axes = fig, axes, fmts, config_axes
        self.X: list[list[float]] | None = None
        self.Y: list[list[float]] | None = None
        self.path: Path | None = None
        self.dirty = False
        self.last_save = 0.0
        self.save_cost = 0.0

    def draw(self) -> None:
        self.axes[0].cla()
        for xs, ys, fmt in zip(self.X or [], self.Y or [], self.fmts):
            self.axes[0].plot(xs, ys, fmt)
        self.config_axes()

    def save(self) -> Path | None:
        """Draw and write the PNG if points came since the last write; returns the path."""
        if self.path is None or not self.dirty:
            return self.path
        start = time.monotonic()
        self.draw()
        # The PNG says which data it shows, so a reader (or a test) can tell it is complete.
        shown = {
            "points": [len(xs) for xs in self.X or []],
            "last": [[xs[-1], ys[-1]] if xs else None for xs, ys in zip(self.X or [], self.Y or [])],
        }
        self.fig.savefig(
            self.path,
            dpi=100,
            bbox_inches="tight",
            pad_inches=0.1,
            metadata={"Description": "reglab.d2l Animator " + json.dumps(shown)},
        )
        # Drawing log-scale tick labels parses mathtext, whose pyparsing exceptions leave
        # reference cycles through this call stack's frames, and so through the caller's
        # Animator: collect them now, so that the Animator is freed (and its last points
        # written) when the caller drops it, not whenever the collector next runs. (Only a
        # full collection frees them: some of the cycle is promoted during the drawing.)
        gc.collect()
        self.dirty = False
        self.last_save = time.monotonic()
        self.save_cost = self.last_save - start
        return self.path

    def release(self) -> None:
        """The Animator is gone (or the program ends): write the last points, free the figure."""
        self.save()
        plt.close(self.fig)


class Animator:
    """Plot data incrementally, as d2l's ``Animator``.

    In a notebook the figure is redrawn inline on every :meth:`add`. Elsewhere
    the figure is drawn into one PNG file per animator, whose path is printed
    at the first :meth:`add`, which also writes the file; later adds rewrite it
    when at least ``max(2 s, 5 x the last write's duration)`` have passed, so
    plotting costs a program little. The last points always reach the file:
    it is written again when the Animator is garbage-collected (the book's
    ``train`` helpers create one and drop it on return) and at interpreter
    exit, by a ``weakref.finalize`` that holds the figure, not the Animator.
    :meth:`save` writes it at once.

    Attributes:
        X, Y: the data added so far, one list per curve (``None`` before the first add).
        path: the PNG file (``None`` in a notebook or before the first add).
    """

    def __init__(
        self,
        xlabel=None,
        ylabel=None,
        legend=None,
        xlim=None,
        ylim=None,
        xscale="linear",
        yscale="linear",
        fmts=("-", "m--", "g-.", "r:"),
        nrows=1,
        ncols=1,
        figsize=(3.5, 2.5),
    ) -> None:
        if legend is None:
            legend = []
        use_svg_display()
        self.fig, self.axes = plt.subplots(nrows, ncols, figsize=figsize)
        if nrows * ncols == 1:
            self.axes = [self.axes]
        first = self.axes[0]  # not self: the canvas (and its finalizer) must not keep the Animator alive
        self.config_axes = lambda: set_axes(first, xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
        self.fmts = fmts
        self._canvas = _Canvas(self.fig, self.axes, fmts, self.config_axes)
        self._notebook = in_notebook()
        if not self._notebook:
            weakref.finalize(self, self._canvas.release)

    @property
    def X(self) -> list[list[float]] | None:
        return self._canvas.X

    @X.setter
    def X(self, value: list[list[float]] | None) -> None:
        self._canvas.X = value

    @property
    def Y(self) -> list[list[float]] | None:
        return self._canvas.Y

    @Y.setter
    def Y(self, value: list[list[float]] | None) -> None:
        self._canvas.Y = value

    @property
    def path(self) -> Path | None:
        return self._canvas.path

    def add(self, x: Any, y: Any) -> None:
        """Append one point per curve: ``y`` a value or a sequence (``None`` skips a curve)."""
        if not hasattr(y, "__len__"):
            y = [y]
        n = len(y)
        if not hasattr(x, "__len__"):
            x = [x] * n
        if not self.X:
            self.X = [[] for _ in range(n)]
        if not self.Y:
            self.Y = [[] for _ in range(n)]
        for i, (a, b) in enumerate(zip(x, y)):
            if a is not None and b is not None:
                self.X[i].append(float(a))
                self.Y[i].append(float(b))
        if self._notebook:
            from IPython import display

            self._canvas.draw()
            display.display(self.fig)
            display.clear_output(wait=True)
            return
        canvas = self._canvas
        canvas.dirty = True
        if canvas.path is None:
            canvas.path = _new_png_path("animator")
            print(f"reglab.d2l: Animator figure -> {canvas.path}")
            canvas.save()
        elif time.monotonic() - canvas.last_save >= max(_SAVE_EVERY_S, 5 * canvas.save_cost):
            canvas.save()

    def _draw(self) -> None:
        self._canvas.draw()

    def save(self) -> Path | None:
        """Draw and write the figure to its PNG now (terminal runs); returns the path."""
        if self._notebook:
            return self.path
        return self._canvas.save()
