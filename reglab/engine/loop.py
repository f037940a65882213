"""The training engine: ``fit`` and ``evaluate``.

``fit`` reads top to bottom: for each epoch, put the model in training mode,
run the batches (forward, loss, optional penalty, backward, step), then
evaluate each evaluation set in eval mode without gradients, and record one
row of metrics. Metrics are summed on the device and read back once per epoch
(a single host synchronisation), so the loop never waits on the GPU.

A row holds ``epoch``, ``train_loss``, ``train_acc``, ``train_penalty`` (with a
``penalty``), then ``<name>_loss`` and ``<name>_acc`` for each evaluation set
(e.g. ``test``), then the columns the callbacks add
(:meth:`~reglab.engine.callbacks.Callback.epoch_metrics`, e.g. a scheduled
dropout rate), then ``seconds``. Accuracies are present for classification
(integer targets, one score per class along the last dimension). Losses and
the penalty are sample means over the epoch's batches; ``train_loss`` is the
data loss alone, without the penalty.

The bookkeeping around the epochs is :func:`reglab.engine.epochs.run_epochs`,
which hand-written training loops share: if an epoch's mean training loss or
mean penalty is not finite, ``fit`` raises
:class:`~reglab.core.errors.DivergenceError` naming the epoch, instead of training
on NaNs (the epochs finished before are attached to the error); each row goes to
the callbacks the moment its epoch ends; Ctrl-C reaches every callback's
``on_fit_end``. An epoch (or an evaluation) that sees no batch at all is refused
with the one argument sentence, instead of reporting a loss of 0.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from typing import Any

import torch
from torch import nn

from ..core.checks import check_int, invalid_argument
from .callbacks import Callback
from .devices import resolve_device
from .display import progress_bar, show_progress
from .epochs import EpochResult, call_order, run_epochs
from .state import History, TrainState

__all__ = ["fit", "evaluate", "train_epoch"]

Batches = Iterable[Sequence[torch.Tensor]]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _is_classification(output: torch.Tensor, target: torch.Tensor) -> bool:
    return output.dim() >= 2 and not target.is_floating_point() and not target.is_complex()


def _mean_loss(loss_fn: LossFn, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    loss = loss_fn(output, target)
    # d2l-style losses with reduction='none' return one value per sample.
    return loss.mean() if loss.dim() > 0 else loss


def _accumulator_dtype(device: torch.device) -> torch.dtype:
    return torch.float64 if device.type in ("cpu", "cuda") else torch.float32


class _Sums:
    """Running sums on the device: loss * n, correct predictions, penalty * n, samples."""

    def __init__(self, device: torch.device) -> None:
        dtype = _accumulator_dtype(device)
        self.loss = torch.zeros((), dtype=dtype, device=device)
        self.correct = torch.zeros((), dtype=dtype, device=device)
        self.penalty: torch.Tensor | None = None  # only with a penalty
        self.samples = 0
        self.classification: bool | None = None

    def add(
        self, loss: torch.Tensor, output: torch.Tensor, target: torch.Tensor, penalty: torch.Tensor | None = None
    ) -> None:
        n = target.shape[0]
        self.samples += n
        self.loss += loss.detach() * n
        if penalty is not None:
            if self.penalty is None:
                self.penalty = torch.zeros_like(self.loss)
            self.penalty += penalty.detach().to(self.penalty.dtype) * n
        if self.classification is None:
            self.classification = _is_classification(output, target)
        if self.classification:
            self.correct += (output.detach().argmax(dim=-1) == target).sum()

    def read(self, prefix: str) -> dict[str, float]:
        """The means, with a single device-to-host copy."""
        penalty = self.penalty if self.penalty is not None else torch.zeros_like(self.loss)
        loss_sum, correct, penalty_sum = torch.stack([self.loss, self.correct, penalty]).tolist()
        n = max(self.samples, 1)
        out = {f"{prefix}_loss": loss_sum / n}
        if self.classification:
            out[f"{prefix}_acc"] = correct / n
        if self.penalty is not None:
            out[f"{prefix}_penalty"] = penalty_sum / n
        return out


class _Described:
    """Stands for an argument in the error sentence (``train=<generator ...>``) without printing it."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


_SOME_BATCH = (
    "re-iterable batches that yield at least one (input, target) pair each pass "
    "(e.g. a BatchIterator or a DataLoader, not a one-shot generator or an empty set)"
)


def _no_batch(argument: str, batches: Batches, when: str) -> Exception:
    return invalid_argument(argument, _SOME_BATCH, _Described(f"<{type(batches).__name__} with no batch {when}>"))


def _to(device: torch.device, batch: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    if len(batch) != 2:
        raise invalid_argument("batches", "(input, target) pairs", f"a batch of {len(batch)} tensors")
    x, y = batch
    return x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def evaluate(
    model: nn.Module,
    batches: Batches,
    loss_fn: LossFn,
    *,
    device: torch.device | str | None = None,
    prefix: str = "eval",
) -> dict[str, float]:
    """Mean loss (and accuracy for classification) of ``model`` over ``batches``.

    The model is put in eval mode (dropout off, batch-norm running statistics)
    and run under ``torch.no_grad()``; its previous mode is restored afterwards.

    Returns:
        ``{"<prefix>_loss": ..., "<prefix>_acc": ...}`` (accuracy only for
        classification).

    Raises:
        InvalidArgumentError: ``batches`` yielded no batch (or only empty ones).
    """
    return _evaluate(model, batches, loss_fn, device=device, prefix=prefix, argument="batches")


def _evaluate(
    model: nn.Module,
    batches: Batches,
    loss_fn: LossFn,
    *,
    device: torch.device | str | None,
    prefix: str,
    argument: str,
    when: str = "",
) -> dict[str, float]:
    device = resolve_device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    sums = _Sums(device)
    try:
        with torch.no_grad():
            for batch in batches:
                x, y = _to(device, batch)
                output = model(x)
                sums.add(_mean_loss(loss_fn, output, y), output, y)
    finally:
        model.train(was_training)
    if sums.samples == 0:
        raise _no_batch(argument, batches, when or "to evaluate")
    return sums.read(prefix)


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


def _overrides(callback: Callback, hook: str) -> bool:
    return getattr(type(callback), hook) is not getattr(Callback, hook)


def train_epoch(
    model: nn.Module,
    batches: Batches,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    *,
    device: torch.device,
    penalty: Callable[[nn.Module], torch.Tensor] | None = None,
    on_step: Callable[[], None] | None = None,
    progress: Any = None,
) -> _Sums:
    """One pass over ``batches`` in training mode; returns the device-side sums."""
    model.train()
    sums = _Sums(device)
    for batch in batches:
        x, y = _to(device, batch)
        output = model(x)
        loss = _mean_loss(loss_fn, output, y)
        term = penalty(model) if penalty is not None else None
        objective = loss if term is None else loss + term
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        optimizer.step()
        sums.add(loss, output, y, None if term is None else torch.as_tensor(term))
        if on_step is not None:
            on_step()
        if progress is not None:
            progress.update(1)
    return sums


def fit(
    model: nn.Module,
    train: Batches,
    *,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    eval_sets: Mapping[str, Batches] | None = None,
    device: torch.device | str = "auto",
    penalty: Callable[[nn.Module], torch.Tensor] | None = None,
    callbacks: Sequence[Callback] = (),
    progress: bool | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return the per-epoch history.

    Args:
        model: the network; moved to ``device``.
        train: re-iterable ``(x, y)`` batches, one pass per epoch (e.g. a
            :class:`~reglab.data.BatchIterator`, which reshuffles each pass).
        loss_fn: ``loss_fn(output, y)``; a per-sample loss is averaged.
        optimizer: updates the model's parameters.
        epochs: number of epochs, >= 1.
        eval_sets: named re-iterable batches evaluated after each epoch in
            eval mode without gradients, e.g. ``{"test": test_batches}``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        penalty: ``penalty(model)`` added to the loss before backward (e.g. an
            L2 penalty); the recorded ``train_loss`` is the data loss alone and
            the penalty's epoch mean is recorded as ``train_penalty``.
        callbacks: :class:`~reglab.engine.callbacks.Callback` objects, called in
            this order (those marked ``runs_last``, e.g. a
            :class:`~reglab.engine.checkpoint.Checkpoint`, after the others).
        progress: show a progress bar per epoch (``tqdm.auto``: a widget in a
            notebook); None means only on a terminal or in a notebook.

    Returns:
        A :class:`History`; ``stop_reason`` says why it stopped early, if it did.

    Raises:
        DivergenceError: an epoch's training loss or penalty was not finite.
        InvalidArgumentError: an epoch, or an evaluation, saw no batch.
    """
    epochs = check_int("epochs", epochs, low=1)
    device = resolve_device(device)
    model.to(device)
    eval_sets = dict(eval_sets or {})
    for name in eval_sets:
        if name == "train" or not name.isidentifier():
            raise invalid_argument("eval_sets", "names that are identifiers other than 'train'", name)
    state = TrainState(
        model=model,
        optimizer=optimizer,
        epochs=epochs,
        device=device,
        history=History(),
        callbacks=call_order(callbacks),
        data={"train": train, **eval_sets},
    )
    state.steps_per_epoch = len(train) if isinstance(train, Sized) else None
    step_callbacks = [cb for cb in state.callbacks if _overrides(cb, "on_step_end")]

    def on_step() -> None:
        state.step += 1
        for cb in step_callbacks:
            cb.on_step_end(state)

    show = show_progress(progress)

    def one_epoch(state: TrainState) -> EpochResult:
        epoch = state.epoch
        start = time.perf_counter()
        bar = _progress_bar(train, epoch, epochs) if show else None
        try:
            sums = train_epoch(
                model,
                train,
                loss_fn,
                optimizer,
                device=device,
                penalty=penalty,
                on_step=on_step if step_callbacks else None,
                progress=bar,
            )
        finally:
            if bar is not None:
                bar.close()
        if sums.samples == 0:
            raise _no_batch("train", train, f"in epoch {epoch}")
        row: dict[str, float] = sums.read("train")
        result = EpochResult(row["train_loss"], row.get("train_penalty"), row)
        if not _finite(result):
            return result  # run_epochs raises the divergence before anything is evaluated
        for name, batches in eval_sets.items():
            row.update(
                _evaluate(
                    model,
                    batches,
                    loss_fn,
                    device=device,
                    prefix=name,
                    argument=f"eval_sets[{name!r}]",
                    when=f"after epoch {epoch}",
                )
            )
        result.seconds = time.perf_counter() - start
        return result

    return run_epochs(
        one_epoch,
        model=model,
        optimizer=optimizer,
        epochs=epochs,
        device=device,
        callbacks=state.callbacks,
        state=state,
    )


def _finite(result: EpochResult) -> bool:
    return all(v is None or math.isfinite(v) for v in (result.train_loss, result.penalty))


def _progress_bar(train: Batches, epoch: int, epochs: int) -> Any:
    total = len(train) if isinstance(train, Sized) else None
    return progress_bar(total, f"epoch {epoch}/{epochs}", "batch")
