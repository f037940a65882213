"""What a training run is, as data: the per-epoch :class:`History` that ``fit``
returns, and the :class:`TrainState` that callbacks see.

Both live here, apart from the loop (:mod:`reglab.engine.loop`) and the
callbacks (:mod:`reglab.engine.callbacks`), so that neither of those imports
the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

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


@dataclass
class TrainState:
    """What callbacks see. They may call :meth:`request_stop`; nothing else is theirs to change.

    ``optimizer`` is None in a hand-written loop that updates its tensors itself
    (see :func:`reglab.engine.epochs.run_epochs`); ``model`` is always a module.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer | None
    epochs: int
    device: torch.device
    history: History
    epoch: int = 0
    step: int = 0
    stop_reason: str | None = None

    def request_stop(self, reason: str) -> None:
        """Stop after the current epoch, recording ``reason``."""
        self.stop_reason = reason
