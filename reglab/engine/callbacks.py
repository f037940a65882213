"""Callbacks for :func:`reglab.fit`: a handful of hooks, a stop flag, nothing else.

A callback sees the :class:`~reglab.engine.state.TrainState` (model, optimizer,
epoch, history) and may call ``state.request_stop(reason)``; it never reaches
into the loop's internals.

Callbacks that carry state across epochs (early stopping's counters, a
schedule's position) implement :meth:`Callback.state_dict` and
:meth:`Callback.load_state_dict`, so that a checkpoint can save them and a
resumed run continues with the same decisions; stateless ones keep the default
(``state_dict()`` returns None and nothing is saved).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import torch
from torch import nn

from ..core.checks import check_bool, invalid_argument
from ..core.files import atomic_write_bytes
from ..regularizers.constraints import Constraint
from ..regularizers.penalties import penalized_parameters
from .display import in_notebook
from .state import TrainState

__all__ = [
    "Callback",
    "EpochTable",
    "LambdaCallback",
    "TaggedRows",
    "ApplyConstraint",
    "LivePlot",
    "format_table_row",
]


class Callback:
    """Base class; override the hooks you need. ``on_step_end`` runs after
    every optimizer step (e.g. to apply weight constraints) and is only called
    when overridden. ``fit`` calls callbacks in the order given, except those
    with ``runs_last = True`` (a checkpoint), which come after the others."""

    runs_last: bool = False

    def on_fit_start(self, state: TrainState) -> None:
        pass

    def on_epoch_start(self, state: TrainState) -> None:
        pass

    def on_step_end(self, state: TrainState) -> None:
        pass

    def epoch_metrics(self, state: TrainState) -> dict[str, float]:
        """Columns this callback adds to the epoch's row (e.g. a scheduled strength),
        after the evaluation and before any ``on_epoch_end`` sees the row."""
        return {}

    def on_epoch_end(self, state: TrainState, row: dict[str, float]) -> None:
        pass

    def on_fit_end(self, state: TrainState) -> None:
        """Called once at the end, also when training stops on an error or Ctrl-C
        (``state.stop_reason`` then says so)."""

    def state_dict(self) -> dict[str, Any] | None:
        """What a checkpoint must save to resume this callback exactly, or None
        (the default) for a stateless callback. The dict holds plain data and
        tensors (what ``torch.save`` writes and ``torch.load(weights_only=True)``
        reads back)."""
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s output. Only called on callbacks whose
        ``state_dict`` returned a dict; the default refuses, since a callback
        without state has nothing to load."""
        raise invalid_argument("state", f"None: {type(self).__name__} keeps no state", type(state).__name__)


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda s, row: ...)``."""

    def __init__(
        self,
        *,
        on_fit_start: Callable[[TrainState], None] | None = None,
        on_epoch_end: Callable[[TrainState, dict[str, float]], None] | None = None,
        on_fit_end: Callable[[TrainState], None] | None = None,
    ) -> None:
        self._fit_start, self._epoch_end, self._fit_end = on_fit_start, on_epoch_end, on_fit_end

    def on_fit_start(self, state: TrainState) -> None:
        if self._fit_start:
            self._fit_start(state)

    def on_epoch_end(self, state: TrainState, row: dict[str, float]) -> None:
        if self._epoch_end:
            self._epoch_end(state, row)

    def on_fit_end(self, state: TrainState) -> None:
        if self._fit_end:
            self._fit_end(state)


class TaggedRows(Callback):
    """Forward the row hooks to ``callback`` with ``tags`` in front of every row.

    One run that trains several models (per lambda, per seed...) records them in
    one table: ``TaggedRows(writer, {"lambda": 3.0, "seed": 0})`` makes each
    row ``{"lambda": 3.0, "seed": 0, "epoch": ..., ...}``. ``on_step_end`` is not
    forwarded (a row consumer has no use for it, and fit skips it then).
    """

    def __init__(self, callback: Callback, tags: Mapping[str, Any]) -> None:
        self.callback = callback
        self.tags = dict(tags)

    def on_fit_start(self, state: TrainState) -> None:
        self.callback.on_fit_start(state)

    def on_epoch_start(self, state: TrainState) -> None:
        self.callback.on_epoch_start(state)

    def on_epoch_end(self, state: TrainState, row: dict[str, float]) -> None:
        self.callback.on_epoch_end(state, {**self.tags, **row})

    def on_fit_end(self, state: TrainState) -> None:
        self.callback.on_fit_end(state)

    def state_dict(self) -> dict[str, Any] | None:
        return self.callback.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.callback.load_state_dict(state)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.3e}"
    return str(value)


def format_table_row(values: Sequence[Any], widths: Sequence[int]) -> str:
    return "  ".join(_fmt(v).rjust(w) for v, w in zip(values, widths))


class EpochTable(Callback):
    """Print one line per epoch (header first), without breaking progress bars."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream
        self._columns: list[str] | None = None
        self._widths: list[int] = []

    def _write(self, line: str) -> None:
        stream = self.stream or sys.stdout
        try:
            from tqdm import tqdm

            tqdm.write(line, file=stream)
        except ImportError:  # pragma: no cover - tqdm is a core dependency
            print(line, file=stream)

    def on_epoch_end(self, state: TrainState, row: dict[str, float]) -> None:
        if self._columns is None:
            self._columns = list(row)
            self._widths = [max(len(c), 8) for c in self._columns]
            self._write(format_table_row(self._columns, self._widths))
        self._write(format_table_row([row.get(c, "") for c in self._columns], self._widths))


class ApplyConstraint(Callback):
    """A :func:`reglab.fit` callback applying ``constraint`` after every optimizer step.

    ``fit(..., callbacks=[ApplyConstraint(model, MaxNorm(3.0))])``. Given a
    model, the constrained tensors are its weights (``dim >= 2``, outside
    normalisation layers), plus biases with ``include_bias=True``; given an
    iterable of tensors, all of them.

    Args:
        model_or_params: an ``nn.Module`` or an iterable of tensors.
        constraint: a :class:`Constraint` (or any callable changing a tensor in place).
        include_bias: also constrain a model's biases and other ``dim < 2`` parameters.
    """

    def __init__(
        self,
        model_or_params: nn.Module | Iterable[torch.Tensor],
        constraint: Constraint,
        *,
        include_bias: bool = False,
    ) -> None:
        if not callable(constraint):
            raise invalid_argument("constraint", "a Constraint such as MaxNorm(3.0)", constraint)
        self.include_bias = check_bool("include_bias", include_bias)
        if isinstance(model_or_params, torch.Tensor) or not isinstance(model_or_params, (nn.Module, Iterable)):
            raise invalid_argument("model_or_params", "an nn.Module or an iterable of tensors", model_or_params)
        self.constraint = constraint
        self.tensors = penalized_parameters(model_or_params, include_bias=self.include_bias)

    def apply(self) -> None:
        """Apply the constraint to every tensor now."""
        for tensor in self.tensors:
            self.constraint(tensor)

    def on_step_end(self, state: TrainState) -> None:
        self.apply()

    def __repr__(self) -> str:
        return f"ApplyConstraint({self.constraint!r}, tensors={len(self.tensors)}, include_bias={self.include_bias})"


class LivePlot(Callback):
    """Training curves that follow training: ``fit(..., callbacks=[LivePlot()])``.

    In a Jupyter notebook one figure appears when the first epoch ends and is
    redrawn in place after every epoch (a single display handle, updated: no
    flicker, no trail of figures). Elsewhere (a terminal, a script) nothing is
    shown while training and the figure is written as a PNG to ``path`` when
    ``fit`` ends, also after an error or Ctrl-C, with the finished epochs. The
    panels are those of :meth:`History.plot <reglab.engine.state.History.plot>`
    (losses, accuracies, the penalty term). Each ``fit`` gets a figure of its own.

    Args:
        path: where to write the PNG when fit ends; None means ``live_plot.png``
            outside a notebook and no file in a notebook.
        title: the figure's title.

    Attributes:
        figure: the last figure drawn (None before the first epoch ends).
        draws: how many times this fit's figure was drawn.
        written: the path of the PNG written, if any.
    """

    def __init__(self, path: str | Path | None = None, *, title: str | None = None) -> None:
        if path is not None and not isinstance(path, (str, Path)):
            raise invalid_argument("path", "a file path or None", path)
        self.path = Path(path) if path is not None else None
        self.title = title
        self.figure: Any = None
        self.written: Path | None = None
        self.draws = 0
        self._handle: Any = None
        self._notebook = False

    def on_fit_start(self, state: TrainState) -> None:
        self._notebook = in_notebook()
        self._handle = None
        self.figure = None
        self.draws = 0

    def on_epoch_end(self, state: TrainState, row: dict[str, float]) -> None:
        if not self._notebook:
            return  # drawn once, at the end
        from IPython.display import Image, display

        image = Image(data=self._draw(state), format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)

    def on_fit_end(self, state: TrainState) -> None:
        path = self.path if self.path is not None or self._notebook else Path("live_plot.png")
        if path is None or not state.history.rows:
            return
        self.written = atomic_write_bytes(path, self._draw(state))

    def _draw(self, state: TrainState) -> bytes:
        from .history_plot import figure_png, plot_history

        self.figure = plot_history(state.history.rows, title=self.title, figure=self.figure)
        self.draws += 1
        return figure_png(self.figure)
