"""d2l's chapter-3 training loop, metrics and small utilities.

Same signatures and return values as d2l 2.0.0, with three deliberate
differences (see docs/d2l.md): evaluation (``evaluate_accuracy``,
``evaluate_loss``, ``predict_ch3``) runs in eval mode without gradients and
restores each sub-module's previous mode; batches are moved to the network's
device when they are elsewhere; ``train_ch3`` returns its final metrics as a
:class:`TrainCh3Result` (a tuple that a notebook does not print) and reports
failed sanity checks with :class:`SanityCheckError` instead of a bare
``assert``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from ..core.checks import check_int
from ..core.errors import ReglabError
from ._data import get_fashion_mnist_labels
from ._figures import Animator, show_images

__all__ = [
    "TrainCh3Result",
    "SanityCheckError",
    "Timer",
    "Accumulator",
    "accuracy",
    "evaluate_accuracy",
    "evaluate_loss",
    "train_epoch_ch3",
    "train_ch3",
    "predict_ch3",
    "try_gpu",
    "try_all_gpus",
]


class TrainCh3Result(NamedTuple):
    """``train_ch3``'s numbers after the last epoch: a tuple (``loss, train_acc, test_acc =
    d2l.train_ch3(...)``) with named fields, whose notebook display is empty, so that a
    cell ending in ``d2l.train_ch3(...)`` shows the plot alone, as with d2l (which returns
    None). Outside a notebook it prints as any named tuple."""

    train_loss: float
    train_acc: float
    test_acc: float

    def _ipython_display_(self) -> None:
        """IPython calls this instead of printing the value: show nothing."""


class SanityCheckError(ReglabError, AssertionError):
    """``train_ch3``'s final checks failed (also an ``AssertionError``, like d2l's asserts).

    Attributes:
        metrics: the :class:`TrainCh3Result` after the last epoch.
    """

    def __init__(self, message: str, metrics: TrainCh3Result) -> None:
        super().__init__(message)
        self.metrics = metrics


class Timer:
    """Record several running times."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.start()

    def start(self) -> None:
        """Start the timer."""
        self.tik = time.time()

    def stop(self) -> float:
        """Stop the timer, record and return the elapsed seconds."""
        self.times.append(time.time() - self.tik)
        return self.times[-1]

    def avg(self) -> float:
        """The mean recorded time."""
        return sum(self.times) / len(self.times)

    def sum(self) -> float:
        """The total recorded time."""
        return sum(self.times)

    def cumsum(self) -> list[float]:
        """The running totals of the recorded times."""
        totals: list[float] = np.array(self.times).cumsum().tolist()
        return totals


class Accumulator:
    """Sum ``n`` quantities over batches (kept as Python floats)."""

    def __init__(self, n: int) -> None:
        self.data = [0.0] * check_int("n", n, low=1)

    def add(self, *args: Any) -> None:
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self) -> None:
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx: int) -> float:
        return self.data[idx]


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """The NUMBER of correct predictions (a float count, as d2l), not a rate.

    Args:
        y_hat: scores ``(N, C)`` (argmax taken over dim 1) or predicted labels ``(N,)``.
        y: labels ``(N,)``.
    """
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


@contextmanager
def _evaluating(net: Any) -> Iterator[None]:
    """Eval mode and no gradients; afterwards every sub-module gets its own mode back."""
    modes = [(m, m.training) for m in net.modules()] if isinstance(net, nn.Module) else []
    if isinstance(net, nn.Module):
        net.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, training in modes:
            module.training = training


def _device_of(net: Any) -> torch.device | None:
    if isinstance(net, nn.Module):
        for tensor in net.parameters():
            return tensor.device
        for buffer in net.buffers():
            return buffer.device
    return None


def _to(device: torch.device | None, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    if device is None:
        return tensors
    return tuple(t.to(device, non_blocking=True) if isinstance(t, torch.Tensor) else t for t in tensors)


def evaluate_accuracy(net, data_iter: Iterable[Any]) -> float:
    """Accuracy of ``net`` over ``data_iter`` (eval mode, no gradients, mode restored after)."""
    metric = Accumulator(2)  # correct predictions, predictions
    device = _device_of(net)
    with _evaluating(net):
        for X, y in data_iter:
            X, y = _to(device, X, y)
            metric.add(accuracy(net(X), y), y.numel())
    return metric[0] / metric[1]


def evaluate_loss(net, data_iter: Iterable[Any], loss) -> float:
    """Mean loss of ``net`` over ``data_iter`` (eval mode, no gradients, mode restored after).

    ``loss`` must return per-sample values (``reduction='none'``) for a true mean
    over samples, as in d2l; ``y`` is reshaped to the output's shape first.
    """
    metric = Accumulator(2)  # sum of losses, number of losses
    device = _device_of(net)
    with _evaluating(net):
        for X, y in data_iter:
            X, y = _to(device, X, y)
            out = net(X)
            y = y.reshape(out.shape)
            l = loss(out, y)
            metric.add(l.sum(), l.numel())
    return metric[0] / metric[1]


def train_epoch_ch3(net, train_iter: Iterable[Any], loss, updater) -> tuple[float, float]:
    """Train one epoch; return ``(mean training loss, training accuracy)``.

    ``updater`` is a ``torch.optim.Optimizer`` (the mean loss is minimised) or a
    function ``updater(batch_size)`` called after ``l.sum().backward()``, as d2l.
    """
    if isinstance(net, nn.Module):
        net.train()
    metric = Accumulator(3)  # sum of losses, correct predictions, samples
    device = _device_of(net)
    for X, y in train_iter:
        X, y = _to(device, X, y)
        y_hat = net(X)
        l = loss(y_hat, y)
        if isinstance(updater, torch.optim.Optimizer):
            updater.zero_grad()
            l.mean().backward()
            updater.step()
        else:
            l.sum().backward()
            updater(X.shape[0])
        metric.add(float(l.detach().sum()), accuracy(y_hat, y), y.numel())
    return metric[0] / metric[2], metric[1] / metric[2]


def train_ch3(
    net, train_iter: Iterable[Any], test_iter: Iterable[Any], loss, num_epochs: int, updater
) -> TrainCh3Result:
    """Train for ``num_epochs`` and plot the curves, as d2l's ``train_ch3``.

    Returns:
        A :class:`TrainCh3Result` ``(train_loss, train_acc, test_acc)`` of the last
        epoch: unpack it or read its fields; a notebook does not print it.

    Raises:
        SanityCheckError: d2l's final checks fail (train_loss < 0.5,
            0.7 < train_acc <= 1, 0.7 < test_acc <= 1); the message gives the numbers.
    """
    num_epochs = check_int("num_epochs", num_epochs, low=1)
    animator = Animator(
        xlabel="epoch", xlim=[1, num_epochs], ylim=[0.3, 0.9], legend=["train loss", "train acc", "test acc"]
    )
    for epoch in range(num_epochs):
        train_metrics = train_epoch_ch3(net, train_iter, loss, updater)
        test_acc = evaluate_accuracy(net, test_iter)
        animator.add(epoch + 1, train_metrics + (test_acc,))
    animator.save()
    train_loss, train_acc = train_metrics
    metrics = TrainCh3Result(train_loss, train_acc, test_acc)
    failed = []
    if not train_loss < 0.5:
        failed.append(f"train_loss={train_loss:.4f} (expected < 0.5)")
    if not 0.7 < train_acc <= 1:
        failed.append(f"train_acc={train_acc:.4f} (expected in (0.7, 1])")
    if not 0.7 < test_acc <= 1:
        failed.append(f"test_acc={test_acc:.4f} (expected in (0.7, 1])")
    if failed:
        raise SanityCheckError(
            f"train_ch3's sanity checks failed after {num_epochs} epoch(s): "
            + "; ".join(failed)
            + ". Train longer, lower the learning rate, or check the model.",
            metrics,
        )
    return metrics


def predict_ch3(net, test_iter: Iterable[Any], n: int = 6) -> None:
    """Show the first ``n`` images of the first test batch titled 'true\\npredicted' (as d2l)."""
    n = check_int("n", n, low=1)
    X, y = next(iter(test_iter))
    with _evaluating(net):
        (X_dev,) = _to(_device_of(net), X)
        preds = get_fashion_mnist_labels(net(X_dev).argmax(dim=1))
    trues = get_fashion_mnist_labels(y)
    titles = [true + "\n" + pred for true, pred in zip(trues, preds)]
    n = min(n, X.shape[0])
    show_images(X[0:n].reshape((n, X.shape[-2], X.shape[-1])), 1, n, titles=titles[0:n])


def try_gpu(i: int = 0) -> torch.device:
    """``cuda:i`` if it exists, else the CPU."""
    i = check_int("i", i, low=0)
    if torch.cuda.device_count() >= i + 1:
        return torch.device(f"cuda:{i}")
    return torch.device("cpu")


def try_all_gpus() -> list[torch.device]:
    """All CUDA devices, or ``[cpu]`` when there is none."""
    devices = [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())]
    return devices if devices else [torch.device("cpu")]
