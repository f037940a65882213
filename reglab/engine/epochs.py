"""The engine's guarantees around epochs, in one place for ``fit`` and for
hand-written training loops.

:func:`run_epochs` calls ``train_epoch(state)`` once per epoch and does the
bookkeeping every epoch-based experiment needs, whoever wrote the inner loop:

- the finiteness check: a non-finite mean training loss, or a non-finite mean
  penalty, raises :class:`~reglab.core.errors.DivergenceError` naming the epoch
  (and carrying the rows recorded before), instead of training on NaNs;
- the per-epoch row: ``{"epoch": n, **row}`` goes to the history and to every
  callback's ``on_epoch_end`` (so ``metrics.csv`` grows after each epoch, or
  after each epoch that records an evaluation);
- stops and interrupts: ``state.request_stop(reason)`` ends training after the
  epoch; on Ctrl-C, a divergence or any error, every callback's ``on_fit_end``
  sees ``state.stop_reason`` (``interrupted``, ``diverged``, ``error: ...``)
  before the exception propagates;
- checkpoints: callbacks run in order, those marked ``runs_last`` (a checkpoint)
  after the others, each row gets the callbacks' ``epoch_metrics``, and a
  checkpoint that restores a run in ``on_fit_start`` (``state.resume_at``) makes
  the loop continue after its epoch.

A hand-written loop returns an :class:`EpochResult` per epoch: the epoch's mean
training (data) loss, its mean penalty if the objective had one, and the row to
record, or None where the epoch records nothing (an evaluation every k epochs).
:class:`RunningMean` accumulates a mean on the device with one host
synchronisation, and :func:`tensor_module` shows hand-made parameter tensors to
callbacks as a module (``state.model.state_dict()`` works).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..core.errors import DivergenceError
from .callbacks import Callback
from .state import History, TrainState

__all__ = [
    "EpochResult",
    "RunningMean",
    "run_epochs",
    "call_order",
    "check_finite",
    "tensor_module",
    "stop_reason_of",
]


@dataclass
class EpochResult:
    """What one epoch of a training loop measured.

    Attributes:
        train_loss: the epoch's mean training (data) loss; checked for finiteness.
        penalty: the epoch's mean penalty term, when the objective had one; checked too.
        row: the metrics to record for this epoch (``epoch`` is added in front,
            the callbacks' ``epoch_metrics`` after), or None when this epoch records nothing.
        seconds: the epoch's duration, recorded last in the row when given.
    """

    train_loss: float
    penalty: float | None = None
    row: dict[str, float] | None = None
    seconds: float | None = None


class RunningMean:
    """A mean accumulated on the device: ``add`` per batch, ``mean()`` once (one host sync)."""

    def __init__(self) -> None:
        self._sum: torch.Tensor | None = None
        self._count = 0

    def add(self, value: torch.Tensor | float, weight: int = 1) -> None:
        """Add ``value`` (a scalar, e.g. a batch's mean loss) with ``weight`` (e.g. its sample count)."""
        value = value.detach() if isinstance(value, torch.Tensor) else torch.tensor(float(value))
        dtype = torch.float64 if value.device.type in ("cpu", "cuda") else torch.float32
        term = value.to(dtype) * weight
        self._sum = term if self._sum is None else self._sum + term
        self._count += weight

    @property
    def count(self) -> int:
        return self._count

    def mean(self) -> float:
        """The weighted mean (NaN when nothing was added)."""
        if self._sum is None or self._count == 0:
            return math.nan
        return float(self._sum.item()) / self._count


class _TensorModule(nn.Module):
    """Leaf tensors registered as buffers: no copies, ``state_dict`` and ``load_state_dict`` work in place."""

    def __init__(self, tensors: Mapping[str, torch.Tensor]) -> None:
        super().__init__()
        for name, tensor in tensors.items():
            self.register_buffer(name, tensor)


def tensor_module(**tensors: torch.Tensor) -> nn.Module:
    """Hand-made parameters (``w=w, b=b``) as an ``nn.Module`` for :class:`TrainState`, so callbacks
    can save and restore them (``state.model.state_dict()``); the tensors themselves, not copies."""
    return _TensorModule(tensors)


def check_finite(epoch: int, result: EpochResult, history: History | None = None) -> None:
    """Raise :class:`DivergenceError` naming ``epoch`` if its training loss or penalty is not finite."""
    for what, value in (("training loss", result.train_loss), ("penalty", result.penalty)):
        if value is not None and not math.isfinite(value):
            raise DivergenceError(
                f"training diverged in epoch {epoch}: the mean {what} is {value}; "
                "stopped instead of training on non-finite values (try a lower learning rate)",
                epoch=epoch,
                value=value,
                history=history,
            )


def call_order(callbacks: Sequence[Callback]) -> tuple[Callback, ...]:
    """The callbacks in the order given, except that those marked ``runs_last``
    (checkpoints) come after the others, as Lightning orders its ModelCheckpoint:
    what they save at an epoch's end includes every other callback's update."""
    return tuple(sorted(callbacks, key=lambda cb: bool(getattr(cb, "runs_last", False))))


def stop_reason_of(exc: BaseException) -> str:
    """``interrupted`` (Ctrl-C, SIGTERM), ``diverged``, or ``error: TypeName``."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, DivergenceError):
        return "diverged"
    return f"error: {type(exc).__name__}"


def run_epochs(
    train_epoch: Callable[[TrainState], EpochResult],
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    epochs: int,
    device: torch.device,
    callbacks: Sequence[Callback] = (),
    initial: Mapping[str, float] | None = None,
    state: TrainState | None = None,
) -> History:
    """Run ``train_epoch`` for epochs 1..``epochs`` with the engine's guarantees (see the module).

    Args:
        train_epoch: trains one epoch (``state.epoch`` is its number) and returns its
            :class:`EpochResult`.
        model: what callbacks see as ``state.model`` (:func:`tensor_module` for bare tensors).
        optimizer: what callbacks see as ``state.optimizer``; None for a hand-written update.
        epochs: the number of epochs, >= 1.
        device: the training device.
        callbacks: :class:`Callback` objects; ``on_step_end`` is the caller's to call.
        initial: metrics of the model before training, recorded as epoch 0.
        state: the state to use (``fit`` makes it first, for its step hook); None makes one.

    Returns:
        The :class:`History` of recorded rows; ``stop_reason`` says why it stopped early.

    Raises:
        DivergenceError: an epoch's training loss or penalty was not finite.
    """
    callbacks = call_order(callbacks)
    history = state.history if state is not None else History()
    if state is None:
        state = TrainState(
            model=model, optimizer=optimizer, epochs=epochs, device=device, history=history, callbacks=callbacks
        )

    def record(row: dict[str, float], seconds: float | None = None) -> None:
        for cb in callbacks:
            row.update(cb.epoch_metrics(state))
        if seconds is not None:
            row["seconds"] = seconds
        history.rows.append(row)
        for cb in callbacks:
            cb.on_epoch_end(state, row)

    for cb in callbacks:
        cb.on_fit_start(state)
    try:
        if initial is not None and state.epoch == 0:
            record({"epoch": 0, **initial})
        # A checkpoint restoring a run has moved state.epoch on in on_fit_start.
        for epoch in range(state.epoch + 1, epochs + 1):
            if state.stop_reason is not None:
                break
            state.epoch = epoch
            for cb in callbacks:
                cb.on_epoch_start(state)
            result = train_epoch(state)
            check_finite(epoch, result, history)
            if result.row is not None:
                record({"epoch": epoch, **result.row}, result.seconds)
            if state.stop_reason is not None:
                break
    except BaseException as exc:
        # Let callbacks close files and record why, then re-raise.
        state.stop_reason = stop_reason_of(exc)
        history.stop_reason = state.stop_reason
        for cb in callbacks:
            cb.on_fit_end(state)
        raise
    history.stop_reason = state.stop_reason
    for cb in callbacks:
        cb.on_fit_end(state)
    return history
