"""Seed 000: d2l's dropout MLP over a grid of hidden sizes and dropout pairs.

The notes try 784-h-h-10 MLPs (h = 256 and 512) with dropout pairs (p1, p2) =
(0.2, 0.5), (0.9, 0.6), (0.1, 0.4) and (0, 0) (p is the DROP probability:
p1 after the first hidden layer, p2 after the second), weights ~ N(0, 0.01^2),
SGD lr 0.5, batch 256, 10 epochs. Every (hidden, pair) setting starts from the
same seed (same initial weights for a width, same batch order), so settings
differ only in their dropout rates and a run with one setting reproduces that
row of a larger grid.

Two training accuracies are reported. ``train_acc``/``train_loss`` are d2l's:
the running mean over the last epoch's batches, with dropout ON. The
overfitting gap needs the trained network itself, so the training set is also
evaluated in eval mode (dropout off): ``train_eval_acc``/``train_eval_loss``,
and ``gap_acc = train_eval_acc - test_acc``, ``gap_loss = test_loss -
train_eval_loss``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from torch import nn

from ..core.checks import check_float, check_int_tuple, invalid_argument
from ..data import BatchIterator
from ..engine.loop import evaluate
from ..regularizers.inverted_dropout import Dropout
from ..runs.experiment import Result, RunContext, register, setting_help
from ..runs.figures import new_figure
from .common import (
    EVAL_BATCH,
    FashionTrainingSettings,
    SplitSettings,
    begin_fashion_run,
    check_test_subset,
    dropout_mlp,
    init_normal_,
    setting_batch_size,
    setting_fold,
    setting_kfold,
    setting_test_subset,
    setting_train_subset,
    setting_val_fraction,
    train_fashion,
)

__all__ = ["DropoutGridConfig", "check_pairs", "grid_figure", "run_dropout_grid"]

_PAIRS_EXPECTED = "a non-empty sequence of (p1, p2) pairs of drop probabilities, each in [0, 1)"


def check_pairs(name: str, value: Any) -> tuple[tuple[float, float], ...]:
    """Validate a sequence of ``(p1, p2)`` drop-probability pairs, each in ``[0, 1)``.

    Args:
        name: the argument's name, for the error sentence.
        value: the sequence of pairs.

    Returns:
        The pairs as a tuple of float 2-tuples.
    """
    if not isinstance(value, (tuple, list)) or not value:
        raise invalid_argument(name, _PAIRS_EXPECTED, value)
    out: list[tuple[float, float]] = []
    for pair in value:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise invalid_argument(name, _PAIRS_EXPECTED, value)
        p1, p2 = pair
        try:
            out.append(
                (
                    check_float(name, p1, low=0.0, high=1.0, high_open=True),
                    check_float(name, p2, low=0.0, high=1.0, high_open=True),
                )
            )
        except ValueError:
            raise invalid_argument(name, _PAIRS_EXPECTED, value) from None
    return tuple(out)


@dataclass(frozen=True)
class DropoutGridConfig(FashionTrainingSettings, SplitSettings):
    hiddens: tuple[int, ...] = field(
        default=(256, 512), metadata=setting_help("hidden widths (both hidden layers the same)")
    )
    pairs: tuple[tuple[float, float], ...] = field(
        default=((0.2, 0.5), (0.9, 0.6), (0.1, 0.4), (0.0, 0.0)),
        metadata=setting_help("dropout pairs (p1, p2): drop probabilities after hidden layers 1 and 2"),
    )
    lr: float = field(default=0.5, metadata=setting_help("SGD learning rate"))
    batch_size: int = setting_batch_size(256)
    epochs: int = field(default=10, metadata=setting_help("training epochs per setting"))
    init_std: float = field(default=0.01, metadata=setting_help("standard deviation of the N(0, std^2) weights"))
    train_subset: int = setting_train_subset()
    test_subset: int = setting_test_subset()
    seed: int = field(
        default=0, metadata=setting_help("seeds the weights, the batch order and the masks of every setting")
    )
    val_fraction: float = setting_val_fraction()
    kfold: int = setting_kfold()
    fold: int = setting_fold()

    def __post_init__(self) -> None:
        if not isinstance(self.hiddens, (tuple, list)) or not self.hiddens:
            raise invalid_argument("hiddens", "a non-empty sequence of integers >= 1", self.hiddens)
        check_int_tuple("hiddens", self.hiddens)
        check_pairs("pairs", self.pairs)
        check_float("init_std", self.init_std, low=0.0, low_open=True)
        check_test_subset(self.test_subset)
        super().__post_init__()


def _label(hidden: int, p1: float, p2: float) -> str:
    return f"h={hidden} p=({p1:g},{p2:g})"


def _train_one(
    config: DropoutGridConfig, ctx: RunContext, hidden: int, p1: float, p2: float
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Train one setting from the config's seed; return its final row and its epoch rows."""
    batches = begin_fashion_run(config, ctx.device, test_subset=config.test_subset)
    model = init_normal_(dropout_mlp((784, hidden, hidden, 10), (p1, p2), Dropout), config.init_std).to(ctx.device)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    # metrics.csv holds every setting's epochs, each row tagged with its setting.
    tags = {"hidden": hidden, "p1": p1, "p2": p2}
    history = train_fashion(config, ctx, model, batches, optimizer, loss_fn=loss_fn, tags=tags)
    # The training set once more, in eval mode (dropout off), for the overfitting gap.
    train_eval = evaluate(
        model,
        BatchIterator(*batches.train.tensors, batch_size=EVAL_BATCH, shuffle=False),
        loss_fn,
        device=ctx.device,
        prefix="train_eval",
    )
    last = history.rows[-1]
    row: dict[str, Any] = {"hidden": hidden, "p1": p1, "p2": p2}
    row.update({k: v for k, v in last.items() if k not in ("epoch", "seconds")})
    row.update(train_eval)
    row["gap_acc"] = row["train_eval_acc"] - row["test_acc"]
    row["gap_loss"] = row["test_loss"] - row["train_eval_loss"]
    row["seconds"] = sum(r["seconds"] for r in history.rows)
    epoch_rows = [{"hidden": hidden, "p1": p1, "p2": p2, **r} for r in history.rows]
    return row, epoch_rows


def grid_figure(rows: Sequence[dict[str, Any]], *, title: str) -> Figure:
    """Grouped bars: train (eval mode) and test accuracy per setting, and the gap.

    Args:
        rows: one dict per setting with ``hidden``, ``p1``, ``p2``,
            ``train_eval_acc``, ``test_acc`` and ``gap_acc``.
        title: the figure's title.

    Returns:
        A two-panel figure (accuracies left, train-test gap right).
    """
    fig, (ax_acc, ax_gap) = new_figure(6.0, 4.5, ncols=2)
    labels = [_label(r["hidden"], r["p1"], r["p2"]) for r in rows]
    xs = list(range(len(rows)))
    width = 0.38
    ax_acc.bar([x - width / 2 for x in xs], [r["train_eval_acc"] for r in rows], width, label="train acc (eval mode)")
    ax_acc.bar([x + width / 2 for x in xs], [r["test_acc"] for r in rows], width, label="test acc")
    lows = [min(r["train_eval_acc"], r["test_acc"]) for r in rows]
    ax_acc.set_ylim(max(0.0, min(lows) - 0.05) if lows else 0.0, 1.0)
    ax_acc.set_title("final accuracy per setting")
    ax_acc.set_xlabel("setting (hidden width, dropout pair)")
    ax_acc.set_ylabel("accuracy")
    ax_acc.legend(loc="lower right")
    colors = ["tab:red" if r["p1"] == 0 and r["p2"] == 0 else "tab:blue" for r in rows]
    ax_gap.bar(xs, [r["gap_acc"] for r in rows], 0.6, color=colors)
    ax_gap.axhline(0.0, color="black", linewidth=0.8)
    ax_gap.set_title("train - test accuracy gap")
    ax_gap.set_xlabel("setting (hidden width, dropout pair)")
    ax_gap.set_ylabel("train acc - test acc")
    ax_gap.legend(handles=[Patch(color="tab:red", label="no dropout"), Patch(color="tab:blue", label="with dropout")])
    for ax in (ax_acc, ax_gap):
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(title)
    return fig


_FLAT = (
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "test_loss",
    "test_acc",
    "train_eval_loss",
    "train_eval_acc",
    "gap_acc",
    "gap_loss",
)


@register(
    "dropout-grid",
    summary="d2l dropout MLP over hidden sizes x dropout pairs: train/test accuracy and gap (seed 000)",
    config_type=DropoutGridConfig,
    quick={"hiddens": (32,), "pairs": ((0.2, 0.5), (0.0, 0.0)), "epochs": 1, "train_subset": 1024, "test_subset": 1024},
    cannot_resume="it trains one model per setting, each in its own fit",
    diverge={"lr": 1e9},
)
def run_dropout_grid(config: DropoutGridConfig, ctx: RunContext) -> Result:
    """The seed-000 variations of d2l's dropout MLP on Fashion-MNIST: for every hidden
    width h in `hiddens` (784-h-h-10, ReLU) and every dropout pair (p1, p2) in `pairs`
    (drop probabilities after the first and second hidden layer), train from the same
    seed with SGD and report final train and test accuracy and loss, and the
    train-test gap measured with the training set evaluated in eval mode (dropout
    off). What it shows: too much dropout, (0.9, 0.6), underfits (the lowest training
    and test accuracy), while at the notes' 10-epoch budget the moderate settings and
    no dropout end within a point of each other with small gaps (the notes: without
    dropout the net "fits better"); see docs/experiments.md for the measured
    ranges. Writes grid.csv (one row per setting), metrics.csv (every epoch of every
    setting) and grid.png (accuracies and gap per setting)."""
    rows: list[dict[str, Any]] = []
    epoch_rows: list[dict[str, Any]] = []
    for hidden in config.hiddens:
        for p1, p2 in config.pairs:
            ctx.log(f"-- {_label(hidden, p1, p2)}")
            row, per_epoch = _train_one(config, ctx, hidden, p1, p2)
            rows.append(row)
            epoch_rows.extend(per_epoch)
            ctx.write_csv("grid.csv", rows)
    if ctx.run_dir is not None:
        ctx.save_figure(
            "grid.png",
            grid_figure(
                rows, title=f"784-h-h-10 dropout MLP, {config.epochs} epochs, lr {config.lr}, seed {config.seed}"
            ),
        )
    summary: dict[str, Any] = {"settings": rows}
    if len(rows) == 1:
        summary.update({k: rows[0].get(k, math.nan) for k in _FLAT})
    widest = max(rows, key=lambda r: r["gap_acc"])
    summary["largest_gap_setting"] = _label(widest["hidden"], widest["p1"], widest["p2"])
    summary["epochs"] = config.epochs
    table = [
        {
            "hidden": r["hidden"],
            "p1": r["p1"],
            "p2": r["p2"],
            "train_acc": round(r["train_acc"], 4),
            "train_acc_eval": round(r["train_eval_acc"], 4),
            "test_acc": round(r["test_acc"], 4),
            "train_loss_eval": round(r["train_eval_loss"], 4),
            "test_loss": round(r["test_loss"], 4),
            "gap_acc": round(r["gap_acc"], 4),
        }
        for r in rows
    ]
    return Result(summary=summary, rows=epoch_rows, table=table)
