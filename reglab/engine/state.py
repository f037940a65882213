"""What a training run is, as data: the per-epoch :class:`History` that ``fit``
returns, and the :class:`TrainState` that callbacks see.

Both live here, apart from the loop (:mod:`reglab.engine.loop`) and the
callbacks (:mod:`reglab.engine.callbacks`), so that neither of those imports
the other.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from .history_plot import CurvesFigure

__all__ = ["History", "TrainState"]


@dataclass
class History:
    """Per-epoch metrics as data: a list of dict rows, plus why training stopped."""

    rows: list[dict[str, float]] = field(default_factory=list)
    stop_reason: str | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, float]:
        return self.rows[index]

    def __iter__(self) -> Iterator[dict[str, float]]:
        return iter(self.rows)

    @property
    def columns(self) -> list[str]:
        return list(self.rows[0]) if self.rows else []

    def column(self, name: str) -> list[float]:
        return [row[name] for row in self.rows]

    @property
    def last(self) -> dict[str, float]:
        if not self.rows:
            raise IndexError("the history is empty: no epoch finished")
        return self.rows[-1]

    def plot(self, *, title: str | None = None) -> CurvesFigure:
        """The training curves (losses, accuracies, penalty against epoch) as a matplotlib
        figure; a notebook shows it inline, ``.savefig(path)`` writes it. See
        :func:`reglab.engine.history_plot.plot_history`."""
        from .history_plot import plot_history

        return plot_history(self.rows, title=title)

    def to_pandas(self) -> Any:
        """The rows as a ``pandas.DataFrame``, one row per epoch (pandas is optional)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("History.to_pandas() needs pandas, which is not installed: pip install pandas") from None
        return pandas.DataFrame(self.rows)


@dataclass
class TrainState:
    """What callbacks see. They may call :meth:`request_stop`; nothing else is theirs
    to change, except that a checkpoint may :meth:`resume_at` an epoch in ``on_fit_start``.

    Attributes:
        model, optimizer, epochs, device: as given to ``fit``; ``optimizer`` is None in
            a hand-written loop that updates its tensors itself (see
            :func:`reglab.engine.epochs.run_epochs`), ``model`` is always a module.
        history: the rows so far (the object ``fit`` returns).
        epoch: the current epoch (1-based; 0 before the first).
        step: optimizer steps taken (counted only when a callback has ``on_step_end``).
        stop_reason: why training stops early, once a callback asked.
        callbacks: every callback of this ``fit``, in the order they are called
            (a checkpoint saves the state of those that keep some).
        data: the batches, ``{"train": ..., **eval_sets}`` (a checkpoint saves
            the shuffling state of those that have a ``state_dict``).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer | None
    epochs: int
    device: torch.device
    history: History
    epoch: int = 0
    step: int = 0
    stop_reason: str | None = None
    callbacks: Sequence[Any] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    steps_per_epoch: int | None = None  # the training batches' len(), when they have one

    def request_stop(self, reason: str) -> None:
        """Stop after the current epoch, recording ``reason``."""
        self.stop_reason = reason

    def resume_at(self, epoch: int, rows: Sequence[dict[str, float]], *, step: int = 0) -> None:
        """Continue after ``epoch`` finished epochs whose rows were ``rows``: ``fit`` then
        trains epochs ``epoch + 1 ... epochs`` and returns all the rows. Only valid in
        ``on_fit_start`` (a checkpoint restoring a run)."""
        self.epoch, self.step = epoch, step
        self.history.rows[:] = [dict(row) for row in rows]
