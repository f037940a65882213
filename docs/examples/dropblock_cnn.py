"""A small CNN on Fashion-MNIST with DropBlock: a reglab experiment defined outside reglab.

    reglab run docs/examples/dropblock_cnn.py:dropblock-cnn --dry-run
    reglab sweep docs/examples/dropblock_cnn.py:dropblock-cnn drop_prob=0,0.1,0.2,0.3 --select val=0.2
"""

from dataclasses import dataclass, field

import torch
from torch import nn

import reglab
from reglab.core.checks import check_int, check_probability
from reglab.experiments import Result, RunContext, register, setting_help
from reglab.experiments.common import (
    FashionTrainingSettings,
    SplitSettings,
    begin_fashion_run,
    epoch_summary,
    setting_batch_size,
    setting_fold,
    setting_kfold,
    setting_test_subset,
    setting_train_subset,
    setting_val_fraction,
    train_fashion,
)
from reglab.runs.sweep_spec import SweepSpec


@dataclass(frozen=True)
class DropBlockCNNConfig(FashionTrainingSettings, SplitSettings):
    drop_prob: float = field(default=0.1, metadata=setting_help("DropBlock's drop probability p"))
    block_size: int = field(default=3, metadata=setting_help("side of the square blocks dropped"))
    channels: int = field(default=16, metadata=setting_help("channels of the first convolution (x2 in the second)"))
    lr: float = field(default=0.01, metadata=setting_help("SGD learning rate (momentum 0.9)"))
    batch_size: int = setting_batch_size(128)
    epochs: int = field(default=5, metadata=setting_help("training epochs"))
    train_subset: int = setting_train_subset()
    test_subset: int = setting_test_subset()
    seed: int = field(default=0, metadata=setting_help("seeds the weights, the batch order and the blocks"))
    val_fraction: float = setting_val_fraction()
    kfold: int = setting_kfold()
    fold: int = setting_fold()

    def __post_init__(self) -> None:
        check_probability("drop_prob", self.drop_prob)
        check_int("block_size", self.block_size, low=1)
        check_int("channels", self.channels, low=1)
        check_int("test_subset", self.test_subset, low=0)
        super().__post_init__()


def build_cnn(config: DropBlockCNNConfig) -> nn.Module:
    """(N, 784) images -> (N, 10) logits: two conv blocks, each followed by DropBlock."""
    c = config.channels
    return nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),  # reglab's Fashion-MNIST batches are flat
        nn.Conv2d(1, c, 3, padding=1),
        nn.BatchNorm2d(c),
        nn.ReLU(),
        reglab.DropBlock2d(config.drop_prob, block_size=config.block_size),
        nn.MaxPool2d(2),  # (N, c, 14, 14)
        nn.Conv2d(c, 2 * c, 3, padding=1),
        nn.BatchNorm2d(2 * c),
        nn.ReLU(),
        reglab.DropBlock2d(config.drop_prob, block_size=config.block_size),
        nn.MaxPool2d(2),  # (N, 2c, 7, 7)
        nn.Flatten(),
        nn.Linear(2 * c * 7 * 7, 10),
    )


@register(
    "dropblock-cnn",
    summary="a small CNN on Fashion-MNIST with DropBlock after each convolution",
    config_type=DropBlockCNNConfig,
    quick={"epochs": 1, "train_subset": 1024, "test_subset": 1000},
    sweep=SweepSpec(metric="acc", mode="max", log_knobs=("lr",)),
)
def run_dropblock_cnn(config: DropBlockCNNConfig, ctx: RunContext) -> Result:
    """Trains the CNN with SGD and reports train, validation (with a split) and test accuracy."""
    batches = begin_fashion_run(config, ctx.device, test_subset=config.test_subset)  # seeds, then loads
    model = build_cnn(config).to(ctx.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
    history = train_fashion(config, ctx, model, batches, optimizer)  # reglab.fit with ctx.callbacks()
    return Result(summary=epoch_summary(history.rows), rows=history.rows, model=model)
