"""Seed 000: d2l's dropout MLP on Fashion-MNIST, from scratch and from modules.

784-256-256-10 with ReLU, dropout 0.2 after the first hidden layer and 0.5
after the second, weights ~ N(0, 0.01^2), SGD with lr 0.5, batch 256, 10
epochs, cross-entropy. Both versions must reach a test accuracy of at least
0.85 after 10 epochs with the default seed.

The seed's own code has two defects fixed here: its mask came from a normal
draw (``torch.randn(X.shape) > p``: the keep rate is then P(Z > p), 0.31 for
p = 0.5, not 1 - p), and its network switched dropout with a flag set once at
construction, so ``net.eval()`` did not turn dropout off.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..core.checks import check_float, check_int, check_probability
from ..regularizers.inverted_dropout import Dropout
from ..runs.experiment import Result, RunContext, register, setting_help
from ..runs.figures import training_curves_figure
from ..runs.sweep_spec import SweepSpec
from .common import (
    FashionTrainingSettings,
    SplitSettings,
    begin_fashion_run,
    dropout_mlp,
    epoch_summary,
    init_normal_,
    setting_batch_size,
    setting_fold,
    setting_kfold,
    setting_train_subset,
    setting_val_fraction,
    train_fashion,
)

__all__ = ["DropoutMLPConfig", "dropout_layer", "ScratchDropoutMLP", "build_model"]


@dataclass(frozen=True)
class DropoutMLPConfig(FashionTrainingSettings, SplitSettings):
    hidden1: int = field(default=256, metadata=setting_help("units in the first hidden layer"))
    hidden2: int = field(default=256, metadata=setting_help("units in the second hidden layer"))
    p1: float = field(default=0.2, metadata=setting_help("drop probability after the first hidden layer"))
    p2: float = field(default=0.5, metadata=setting_help("drop probability after the second hidden layer"))
    lr: float = field(default=0.5, metadata=setting_help("SGD learning rate"))
    batch_size: int = setting_batch_size(256)
    epochs: int = field(default=10, metadata=setting_help("training epochs"))
    init_std: float = field(default=0.01, metadata=setting_help("standard deviation of the N(0, std^2) weights"))
    train_subset: int = setting_train_subset()
    seed: int = field(default=4, metadata=setting_help("seeds the weights, the batch order and the masks"))
    val_fraction: float = setting_val_fraction()
    kfold: int = setting_kfold()
    fold: int = setting_fold()

    def __post_init__(self) -> None:
        check_int("hidden1", self.hidden1, low=1)
        check_int("hidden2", self.hidden2, low=1)
        check_probability("p1", self.p1)
        check_probability("p2", self.p2)
        check_float("init_std", self.init_std, low=0.0, low_open=True)
        super().__post_init__()


def dropout_layer(X: torch.Tensor, p: float) -> torch.Tensor:
    """d2l's from-scratch dropout, corrected: a *uniform* draw on X's device and dtype.

    Each element is kept with probability 1 - p and scaled by 1/(1 - p), so
    E[output] = X. Autograd differentiates it: the gradient is masked and
    scaled the same way.
    """
    if p == 1.0:
        return torch.zeros_like(X)
    if p == 0.0:
        return X
    mask = (torch.rand(X.shape, device=X.device, dtype=X.dtype) >= p).to(X.dtype)
    return mask * X / (1.0 - p)


class ScratchDropoutMLP(nn.Module):
    """The seed's ``Net``, with dropout following ``self.training`` (so
    ``eval()`` turns it off) instead of a flag fixed at construction."""

    def __init__(self, num_inputs: int, num_outputs: int, hidden1: int, hidden2: int, p1: float, p2: float) -> None:
        super().__init__()
        self.num_inputs = num_inputs
        self.p1, self.p2 = p1, p2
        self.lin1 = nn.Linear(num_inputs, hidden1)
        self.lin2 = nn.Linear(hidden1, hidden2)
        self.lin3 = nn.Linear(hidden2, num_outputs)
        self.relu = nn.ReLU()

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        H1 = self.relu(self.lin1(X.reshape(-1, self.num_inputs)))
        if self.training:
            H1 = dropout_layer(H1, self.p1)
        H2 = self.relu(self.lin2(H1))
        if self.training:
            H2 = dropout_layer(H2, self.p2)
        out: torch.Tensor = self.lin3(H2)  # Module.__call__ returns Any
        return out


def build_model(config: DropoutMLPConfig, *, scratch: bool) -> nn.Module:
    if scratch:
        model: nn.Module = ScratchDropoutMLP(784, 10, config.hidden1, config.hidden2, config.p1, config.p2)
    else:
        model = dropout_mlp((784, config.hidden1, config.hidden2, 10), (config.p1, config.p2), Dropout)
    return init_normal_(model, config.init_std)


def _run(config: DropoutMLPConfig, ctx: RunContext, *, scratch: bool) -> Result:
    batches = begin_fashion_run(config, ctx.device)
    model = build_model(config, scratch=scratch).to(ctx.device)
    history = train_fashion(config, ctx, model, batches, torch.optim.SGD(model.parameters(), lr=config.lr))
    kind = "from-scratch dropout" if scratch else "reglab.Dropout"
    ctx.save_figure(
        "curves.png",
        training_curves_figure(
            history.rows,
            title=f"784-{config.hidden1}-{config.hidden2}-10 MLP, {kind} p=({config.p1}, {config.p2})",
        ),
    )
    return Result(summary=epoch_summary(history.rows), rows=history.rows, model=model)


_QUICK = {"epochs": 1, "train_subset": 2048}
_DESCRIPTION = """d2l's dropout MLP on Fashion-MNIST (seed 000): 784-{hidden1}-{hidden2}-10, ReLU,
dropout p1 after the first hidden layer and p2 after the second (p is the drop
probability), weights ~ N(0, init_std^2), SGD, cross-entropy. Writes
metrics.csv, curves.png (train loss, train acc, test acc against epoch) and
model.pt."""


@register(
    "dropout-scratch",
    summary="d2l dropout MLP on Fashion-MNIST with a from-scratch dropout function (seed 000)",
    config_type=DropoutMLPConfig,
    quick=_QUICK,
    description=_DESCRIPTION
    + "\nDropout is the corrected from-scratch dropout_layer (uniform mask, follows train/eval).",
    sweep=SweepSpec(metric="acc", mode="max", log_knobs=("lr",)),
    diverge={"lr": 1e9},
)
def run_dropout_scratch(config: DropoutMLPConfig, ctx: RunContext) -> Result:
    return _run(config, ctx, scratch=True)


@register(
    "dropout",
    summary="d2l dropout MLP on Fashion-MNIST built from reglab.Dropout modules (seed 000)",
    config_type=DropoutMLPConfig,
    quick=_QUICK,
    description=_DESCRIPTION + "\nDropout is reglab.Dropout (fast inverted dropout, 1-byte mask).",
    # All variants of one architecture train as one stacked model.
    sweep=SweepSpec(
        metric="acc",
        mode="max",
        log_knobs=("lr",),
        vectorized="reglab.experiments.dropout_mlp_stacked:DropoutMLPVectorized",
    ),
    diverge={"lr": 1e9},
)
def run_dropout(config: DropoutMLPConfig, ctx: RunContext) -> Result:
    return _run(config, ctx, scratch=False)
