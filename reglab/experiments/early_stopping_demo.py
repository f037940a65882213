"""Seed 004 exercise: early stopping of an over-parameterised MLP on little data.

A 784-1024-1024-10 ReLU MLP (no dropout, no weight decay, PyTorch's default
initialisation) is trained with Adam on a small random subset of
Fashion-MNIST (2000 images, 20% of them held out for validation). It fits the
1600 training images almost perfectly within a few epochs; from then on the
validation loss rises: the network overfits.

One run gives both answers. :class:`reglab.EarlyStopping` (``monitor="val_loss"``,
``patience``, ``restore_best=True``) watches the validation loss; when it asks
to stop, the run records the stop epoch, restores the best epoch's weights into
a copy of the network (through the callback's own ``on_fit_end``) and measures
that copy on the test set, then keeps training the original to ``epochs`` (the
"train to the end" baseline, from the same initial weights and batch order).

Random streams of ``seed`` (:func:`reglab.engine.seeding.stream_seed`): the
subset and the batch order come from ``seed`` (as in every Fashion-MNIST
experiment; :func:`reglab.data.validation_split` then carves the validation
set with its own fixed permutation), the initial weights from stream 1.

Shapes: inputs ``(B, 1, 28, 28)`` or ``(B, 784)`` floats in [0, 1]; outputs
``(B, 10)`` logits.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..core.checks import check_float, check_int, invalid_argument
from ..engine.callbacks import Callback
from ..engine.early_stopping import EarlyStopping
from ..engine.loop import evaluate
from ..engine.seeding import stream_seed
from ..runs.experiment import Result, RunContext, register, setting_help
from ..runs.figures import new_figure
from .common import (
    FashionTrainingSettings,
    SplitSettings,
    begin_fashion_run,
    check_test_subset,
    setting_batch_size,
    setting_fold,
    setting_kfold,
    train_fashion,
)

__all__ = ["EarlyStoppingConfig", "wide_mlp", "EarlyStoppingProbe"]

_INIT_STREAM = 1


@dataclass(frozen=True)
class EarlyStoppingConfig(FashionTrainingSettings, SplitSettings):
    hidden: int = field(default=1024, metadata=setting_help("units in each of the two hidden layers"))
    train_subset: int = field(
        default=2000, metadata=setting_help("random training images used (before the validation split)")
    )
    test_subset: int = field(default=0, metadata=setting_help("random test images used (0: all 10000)"))
    val_fraction: float = field(
        default=0.2, metadata=setting_help("fraction of the training subset held out for validation")
    )
    kfold: int = setting_kfold()
    fold: int = setting_fold()
    epochs: int = field(default=60, metadata=setting_help("epochs of the train-to-the-end run"))
    patience: int = field(default=5, metadata=setting_help("EarlyStopping patience (epochs without a lower val loss)"))
    min_delta: float = field(default=0.0, metadata=setting_help("EarlyStopping min_delta"))
    lr: float = field(default=0.001, metadata=setting_help("Adam learning rate"))
    batch_size: int = setting_batch_size(64)
    seed: int = field(default=0, metadata=setting_help("seeds the subset, the split, the batch order and the weights"))

    def __post_init__(self) -> None:
        check_int("hidden", self.hidden, low=1)
        check_test_subset(self.test_subset)
        check_int("patience", self.patience, low=0)
        check_float("min_delta", self.min_delta, low=0.0)
        super().__post_init__()
        if self.val_fraction == 0.0 and self.kfold == 0:
            raise invalid_argument(
                "val_fraction",
                "a fraction in (0, 1) (early stopping needs a validation set) or kfold >= 2",
                self.val_fraction,
            )


def wide_mlp(hidden: int, *, seed: int) -> nn.Sequential:
    """``Flatten, Linear(784, hidden), ReLU, Linear(hidden, hidden), ReLU, Linear(hidden, 10)``.

    Weights use PyTorch's default initialisation drawn from a generator seeded
    with ``seed`` (the global RNG is left as it was). Built on the CPU.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10)
        )


class _ModelOnly:
    """The part of :class:`reglab.engine.state.TrainState` EarlyStopping uses: a model and ``request_stop``."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.stop_reason: str | None = None

    def request_stop(self, reason: str) -> None:
        self.stop_reason = reason


class EarlyStoppingProbe(Callback):
    """Runs an :class:`~reglab.EarlyStopping` alongside training without stopping it.

    Until the early stopper asks to stop, every epoch's row is passed to it.
    At that epoch the probe records ``stop_epoch`` and ``reason``, restores the
    best weights into a deep copy of the model with the stopper's own
    ``on_fit_end`` and keeps that copy as ``restored``; training goes on. If
    the stopper never fires, the copy is made when ``fit`` ends.

    Args:
        stopper: an EarlyStopping with ``restore_best=True``.
    """

    def __init__(self, stopper: EarlyStopping) -> None:
        self.stopper = stopper
        self.stop_epoch: int | None = None
        self.reason: str | None = None
        self.restored: nn.Module | None = None
        self._restored_weights: dict[str, Any] | None = None

    def _restore(self, model: nn.Module) -> None:
        clone = copy.deepcopy(model)
        self.stopper.on_fit_end(_ModelOnly(clone))  # type: ignore[arg-type]
        self.restored = clone

    def on_epoch_end(self, state: Any, row: dict[str, float]) -> None:
        if self.restored is not None or self._restored_weights is not None:
            return
        probe = _ModelOnly(state.model)
        self.stopper.on_epoch_end(probe, row)  # type: ignore[arg-type]
        if probe.stop_reason is not None:
            self.stop_epoch, self.reason = state.epoch, probe.stop_reason
            self._restore(state.model)

    def on_fit_end(self, state: Any) -> None:
        if self._restored_weights is not None:  # resumed after the stop: rebuild the copy
            self.restored = copy.deepcopy(state.model)
            self.restored.load_state_dict(self._restored_weights)
            self._restored_weights = None
        if self.restored is None:
            self._restore(state.model)

    def state_dict(self) -> dict[str, Any]:
        """The stopper's state, the stop epoch and reason, and the restored copy's weights."""
        return {
            "stopper": self.stopper.state_dict(),
            "stop_epoch": self.stop_epoch,
            "reason": self.reason,
            "restored": self.restored.state_dict() if self.restored is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stopper.load_state_dict(state["stopper"])
        self.stop_epoch, self.reason = state["stop_epoch"], state["reason"]
        # The copy is a model like the trained one: made from it when fit ends.
        self._restored_weights = state["restored"]


def _curves_figure(rows: list[dict[str, float]], best: int, stop: int | None, title: str) -> Any:
    fig, ax = new_figure(7.0, 4.5)
    epochs = [row["epoch"] for row in rows]
    ax.plot(epochs, [row["train_loss"] for row in rows], "-", marker="o", markersize=3, label="train loss")
    ax.plot(epochs, [row["val_loss"] for row in rows], "m--", marker="o", markersize=3, label="val loss")
    if "test_loss" in rows[0]:
        ax.plot(epochs, [row["test_loss"] for row in rows], "g-.", label="test loss")
    ax.axvline(best, color="tab:green", linestyle=":", label=f"best epoch {best} (restored)")
    if stop is not None:
        ax.axvline(stop, color="tab:red", linestyle=":", label=f"early stop at epoch {stop}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss (log scale)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def _row_at(rows: list[dict[str, float]], epoch: int) -> dict[str, float]:
    return next(row for row in rows if row["epoch"] == epoch)


@register(
    "early-stopping",
    summary="early stopping of an over-parameterised MLP on 2000 Fashion-MNIST images (seed 004 exercise)",
    config_type=EarlyStoppingConfig,
    quick={"hidden": 64, "train_subset": 500, "test_subset": 500, "epochs": 8, "patience": 1, "lr": 0.01},
    diverge={"lr": 1e20},  # Adam's steps are about lr in size: the logits overflow
)
def run_early_stopping(config: EarlyStoppingConfig, ctx: RunContext) -> Result:
    """Early stopping as a regulariser (seed 004's exercises): a 784-1024-1024-10
    MLP without dropout or weight decay, trained with Adam on only 2000
    Fashion-MNIST images (20% held out for validation), overfits within a few
    epochs: the training loss keeps falling while the validation loss turns and
    rises. reglab.EarlyStopping(monitor="val_loss", patience, restore_best=True)
    decides where to stop; the restored best-epoch model is measured on the test
    set, and the same run (same initial weights and batch order) then trains on
    to the last epoch for comparison. The restored model has a clearly lower
    validation and test loss than the model trained to the end. Its test
    accuracy is not higher, though: the end model is overconfident rather than
    less accurate (the measured numbers: docs/experiments.md). Writes metrics.csv, curves.png
    (train/val/test loss against epoch with the best and stop epochs marked) and
    model.pt (the restored model). The flat train/val/test keys of the summary
    are the restored model's; the end model's carry an ``end_`` prefix.
    """
    batches = begin_fashion_run(config, ctx.device, test_subset=config.test_subset)
    model = wide_mlp(config.hidden, seed=stream_seed(config.seed, _INIT_STREAM)).to(ctx.device)
    stopper = EarlyStopping(
        monitor="val_loss", mode="min", patience=config.patience, min_delta=config.min_delta, restore_best=True
    )
    probe = EarlyStoppingProbe(stopper)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    history = train_fashion(config, ctx, model, batches, optimizer, loss_fn=loss_fn, callbacks=[probe])
    rows = history.rows
    assert probe.restored is not None and stopper.best_epoch is not None  # set by on_fit_end
    best = stopper.best_epoch
    restored = evaluate(probe.restored, batches.test, loss_fn, device=ctx.device, prefix="test")
    best_row, end_row = _row_at(rows, best), rows[-1]
    summary: dict[str, Any] = {
        "stopped": probe.stop_epoch is not None,
        "stop_epoch": probe.stop_epoch,
        "best_epoch": best,
        "epochs": len(rows),
        "train_loss": best_row["train_loss"],
        "train_acc": best_row["train_acc"],
        "val_loss": best_row["val_loss"],
        "val_acc": best_row["val_acc"],
        "test_loss": restored["test_loss"],
        "test_acc": restored["test_acc"],
        "end_train_loss": end_row["train_loss"],
        "end_train_acc": end_row["train_acc"],
        "end_val_loss": end_row["val_loss"],
        "end_val_acc": end_row["val_acc"],
        "end_test_loss": end_row["test_loss"],
        "end_test_acc": end_row["test_acc"],
        "stop_reason": probe.reason,
        "train_seconds": sum(row["seconds"] for row in rows),
    }
    title = (
        f"784-{config.hidden}-{config.hidden}-10 MLP on {config.train_subset or 60000} images, "
        f"Adam lr {config.lr}, patience {config.patience}"
    )
    ctx.save_figure("curves.png", _curves_figure(rows, best, probe.stop_epoch, title))
    stop_text = str(probe.stop_epoch) if probe.stop_epoch is not None else f"never (ran {len(rows)})"
    ctx.log(f"early stopping at epoch {stop_text}; best val_loss at epoch {best}")
    table = [
        {
            "model": f"early-stopped (restored epoch {best})",
            "epoch": best,
            "train_loss": best_row["train_loss"],
            "val_loss": best_row["val_loss"],
            "test_loss": restored["test_loss"],
            "test_acc": restored["test_acc"],
        },
        {
            "model": "trained to the end",
            "epoch": end_row["epoch"],
            "train_loss": end_row["train_loss"],
            "val_loss": end_row["val_loss"],
            "test_loss": end_row["test_loss"],
            "test_acc": end_row["test_acc"],
        },
    ]
    return Result(summary=summary, rows=rows, table=table, model=probe.restored)
