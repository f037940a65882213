"""Seed 003 (d2l "softmax regression"): a linear classifier on Fashion-MNIST.

``Flatten, Linear(784, 10)``: weights ~ N(0, 0.01^2), bias 0 (d2l's
from-scratch ``W`` and ``b``), trained with cross-entropy (the softmax is inside
``nn.CrossEntropyLoss``, which is numerically stable, unlike a hand-written
``exp / sum(exp)`` followed by ``log``), SGD lr 0.1, batch 256, 10 epochs.
d2l reaches a test accuracy of about 0.83 after 10 epochs.

Inputs are ``(B, 1, 28, 28)`` or ``(B, 784)`` floats in [0, 1]; outputs are
``(B, 10)`` logits. The batch order is seeded by ``seed`` (independent of the
global RNG); the weights come from ``torch.manual_seed(seed)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..core.checks import check_float
from ..runs.experiment import Result, RunContext, register, setting_help
from ..runs.figures import training_curves_figure
from .common import (
    FashionTrainingSettings,
    SplitSettings,
    begin_fashion_run,
    epoch_summary,
    init_normal_,
    setting_batch_size,
    setting_fold,
    setting_kfold,
    setting_train_subset,
    setting_val_fraction,
    train_fashion,
)

__all__ = ["SoftmaxConfig", "softmax_regression"]


@dataclass(frozen=True)
class SoftmaxConfig(FashionTrainingSettings, SplitSettings):
    lr: float = field(default=0.1, metadata=setting_help("SGD learning rate"))
    batch_size: int = setting_batch_size(256)
    epochs: int = field(default=10, metadata=setting_help("training epochs"))
    init_std: float = field(default=0.01, metadata=setting_help("standard deviation of the N(0, std^2) weights"))
    train_subset: int = setting_train_subset()
    seed: int = field(default=0, metadata=setting_help("seeds the weights and the batch order"))
    val_fraction: float = setting_val_fraction()
    kfold: int = setting_kfold()
    fold: int = setting_fold()

    def __post_init__(self) -> None:
        check_float("init_std", self.init_std, low=0.0)
        super().__post_init__()


def softmax_regression(num_inputs: int = 784, num_outputs: int = 10, init_std: float = 0.01) -> nn.Sequential:
    """``Flatten, Linear(num_inputs, num_outputs)`` with weights ~ N(0, init_std^2) and zero bias."""
    linear = nn.Linear(num_inputs, num_outputs)
    model = init_normal_(nn.Sequential(nn.Flatten(), linear), init_std)
    nn.init.zeros_(linear.bias)
    return model


@register(
    "softmax",
    summary="d2l softmax regression on Fashion-MNIST: test accuracy per epoch (seed 003)",
    config_type=SoftmaxConfig,
    quick={"epochs": 1, "train_subset": 2048},
    diverge={"lr": 1e38},  # a linear model's cross-entropy stays finite until the weights overflow
)
def run_softmax(config: SoftmaxConfig, ctx: RunContext) -> Result:
    """d2l's softmax regression (seed 003): a single linear layer 784 -> 10 on
    Fashion-MNIST, weights ~ N(0, init_std^2) and zero bias, cross-entropy loss,
    minibatch SGD. Even this linear classifier reaches a test accuracy of about
    0.8 or better after 10 epochs (d2l reports about 0.83); the training and test
    accuracies stay close, since the model is too small to overfit 60000
    images. Writes metrics.csv (loss and accuracies per epoch), curves.png and a
    table of the test accuracy per epoch.
    """
    batches = begin_fashion_run(config, ctx.device)
    model = softmax_regression(init_std=config.init_std).to(ctx.device)
    history = train_fashion(config, ctx, model, batches, torch.optim.SGD(model.parameters(), lr=config.lr))
    keys = ("train_loss", "train_acc", "val_acc", "test_acc")
    ctx.save_figure(
        "curves.png",
        training_curves_figure(
            history.rows, title=f"Softmax regression 784-10, SGD lr {config.lr}, batch {config.batch_size}", keys=keys
        ),
    )
    table = [{k: row[k] for k in ("epoch", *keys) if k in row} for row in history.rows]
    return Result(summary=epoch_summary(history.rows), rows=history.rows, table=table, model=model)
