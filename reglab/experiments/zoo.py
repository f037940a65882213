"""The regularizer zoo: every family of reglab's regularizers on one MLP and one CNN,
each at the strength a validation split selects, over several seeds.

Protocol, per network (:mod:`.zoo_models` has the networks and where each
family acts):

1. for each family and each strength of its grid, train one model per seed
   (seeds ``seed, seed + 1, ...``; a seed fixes the training subset, the
   validation split, the batch order and the initial weights, so the same seed
   is a paired comparison across families) and measure validation and test
   accuracy and loss after the last epoch (cross-entropy without smoothing);
2. select each family's strength on the **validation** accuracy, averaged over
   seeds (ties: the lower validation loss); test data play no part;
3. the combination trains dropout, weight decay and max-norm together, each at
   its selected strength (no grid of its own);
4. report, per family, the test accuracy and loss at the selected strength as
   mean ± the 95 % Student-t interval over seeds, and the paired difference
   from ``none`` (same seeds): ``better`` or ``worse`` when its 95 % interval
   excludes 0, ``-`` when it is within the seed spread.

Files: ``zoo.csv`` (the table), ``zoo.png`` (test accuracy per family with its
interval, per network), ``trials.csv`` (every training's numbers, rewritten
after each one, so an interrupted zoo keeps what finished) and ``metrics.csv``
(every training's per-epoch rows, keyed by network, family, strength and seed).

The default budget (a 4000-image subset of which 20 % is held out, 6 epochs,
3 seeds, 3 strengths per family: 183 trainings, about 10 minutes of one CPU
core) runs in tens of minutes on a shared two-core machine; the full one (``train_subset=0 epochs=30 seeds=5``)
is for a GPU. ``--dry-run`` runs every path on a tiny budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from matplotlib.figure import Figure
from torch import nn

from ..core.checks import check_float, check_int, check_probability, invalid_argument
from ..data import BatchIterator
from ..engine.callbacks import LambdaCallback
from ..engine.loop import evaluate, fit
from ..engine.seeding import seed_everything
from ..runs.experiment import Result, RunContext, register, setting_help
from ..runs.figures import new_figure
from .common import (
    FashionBatches,
    FashionTrainingSettings,
    SplitSettings,
    fashion_batches,
    setting_batch_size,
    setting_fold,
    setting_kfold,
    setting_test_subset,
    setting_train_subset,
)
from .zoo_models import COMBINED, FAMILIES, NETWORKS, applies_to, build_recipe, describe_strengths, grid_strengths

__all__ = ["ZooConfig", "t_interval", "paired_verdict", "select_strength", "zoo_figure", "run_zoo"]

# Two-sided 95 % quantiles of Student's t, by degrees of freedom (beyond 30: the next lower entry).
_T975 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
    11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
    20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
    29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980,
}  # fmt: skip


def t_interval(values: Sequence[float]) -> tuple[float, float]:
    """``(mean, half-width)`` of the 95 % Student-t interval of the mean of ``values`` (at least 2)."""
    n = len(values)
    if n < 2:
        raise invalid_argument("values", "at least 2 values", list(values))
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    df = max(k for k in _T975 if k <= n - 1)
    return mean, _T975[df] * sd / math.sqrt(n)


def paired_verdict(values: Sequence[float], baseline: Sequence[float]) -> tuple[float, float, str]:
    """The paired difference ``values - baseline`` (same seeds): ``(mean, half-width, verdict)``,
    the verdict ``"better"`` / ``"worse"`` when the 95 % interval excludes 0, else ``"-"``."""
    mean, half = t_interval([a - b for a, b in zip(values, baseline)])
    verdict = "better" if mean - half > 0 else "worse" if mean + half < 0 else "-"
    return mean, half, verdict


def select_strength(rows: Sequence[dict[str, Any]]) -> str:
    """The ``strength`` whose rows have the highest mean ``val_acc`` (ties: the lowest mean ``val_loss``)."""
    by_strength: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_strength.setdefault(row["strength"], []).append(row)

    def score(item: tuple[str, list[dict[str, Any]]]) -> tuple[float, float]:
        group = item[1]
        acc = sum(r["val_acc"] for r in group) / len(group)
        loss = sum(r["val_loss"] for r in group) / len(group)
        return acc, -loss

    return max(by_strength.items(), key=score)[0]


def _grid_field(family: str, default: tuple[float, ...], text: str) -> Any:
    return field(default=default, metadata=setting_help(f"{family}: {text}"))


@dataclass(frozen=True)
class ZooConfig(FashionTrainingSettings, SplitSettings):
    networks: tuple[str, ...] = field(default=NETWORKS, metadata=setting_help("networks: 'mlp', 'cnn'"))
    families: tuple[str, ...] = field(default=FAMILIES, metadata=setting_help("the families to compare"))
    seeds: int = field(default=3, metadata=setting_help("seeds per setting (seed, seed+1, ...), >= 2"))
    lr: float = field(default=0.05, metadata=setting_help("SGD learning rate"))
    momentum: float = field(default=0.9, metadata=setting_help("SGD momentum"))
    batch_size: int = setting_batch_size(128)
    epochs: int = field(default=6, metadata=setting_help("training epochs (early stopping may stop sooner)"))
    train_subset: int = setting_train_subset(4000)
    test_subset: int = setting_test_subset(0)
    seed: int = field(default=0, metadata=setting_help("the first seed"))
    val_fraction: float = field(
        default=0.2, metadata=setting_help("hold out this fraction of training data for selection")
    )
    kfold: int = setting_kfold()
    fold: int = setting_fold()
    l2_grid: tuple[float, ...] = _grid_field("l2", (1e-4, 1e-3, 1e-2), "SGD weight decay")
    l1_grid: tuple[float, ...] = _grid_field("l1", (1e-6, 1e-5, 1e-4), "L1 penalty λ")
    dropout_grid: tuple[float, ...] = _grid_field("dropout", (0.1, 0.3, 0.5), "drop probability")
    dropconnect_grid: tuple[float, ...] = _grid_field("dropconnect", (0.1, 0.3, 0.5), "weight drop probability")
    dropblock_grid: tuple[float, ...] = _grid_field("dropblock", (0.05, 0.1, 0.2), "drop probability (block 3)")
    droppath_grid: tuple[float, ...] = _grid_field("droppath", (0.1, 0.2, 0.4), "the deepest block's drop rate")
    gaussian_grid: tuple[float, ...] = _grid_field("gaussian", (0.1, 0.3, 0.5), "Gaussian dropout p")
    label_smoothing_grid: tuple[float, ...] = _grid_field("label_smoothing", (0.05, 0.1, 0.2), "ε")
    maxnorm_grid: tuple[float, ...] = _grid_field("maxnorm", (1.0, 2.0, 4.0), "max row norm c")
    early_stopping_grid: tuple[int, ...] = _grid_field("early_stopping", (1, 2, 4), "patience in epochs")

    def __post_init__(self) -> None:
        _check_names("networks", self.networks, NETWORKS)
        _check_names("families", self.families, FAMILIES)
        check_int("seeds", self.seeds, low=2)
        check_float("momentum", self.momentum, low=0.0, high=1.0, high_open=True)
        check_int("test_subset", self.test_subset, low=0)
        if self.kfold == 0 and self.val_fraction == 0.0:
            raise invalid_argument("val_fraction", "a fraction in (0, 1) (the zoo selects on validation data)", 0.0)
        for family in FAMILIES:
            if family in ("none", "combination"):
                continue
            grid = getattr(self, f"{family}_grid")
            if isinstance(grid, (str, bytes)) or not isinstance(grid, Sequence) or not grid:
                raise invalid_argument(f"{family}_grid", "a non-empty tuple of strengths", grid)
            for value in grid:
                _check_strength(family, value)
        super().__post_init__()

    def grid(self, family: str) -> tuple[float, ...]:
        return () if family in ("none", "combination") else tuple(getattr(self, f"{family}_grid"))


def _check_names(name: str, value: Any, allowed: Sequence[str]) -> None:
    expected = f"a non-empty tuple of distinct names from {', '.join(allowed)}"
    if isinstance(value, str) or not isinstance(value, Sequence) or not value or len(set(value)) != len(value):
        raise invalid_argument(name, expected, value)
    if any(v not in allowed for v in value):
        raise invalid_argument(name, expected, value)


def _check_strength(family: str, value: Any) -> None:
    name = f"{family}_grid"
    if family in ("l1", "l2") or family == "maxnorm":
        check_float(name, value, low=0.0, low_open=True)
    elif family == "early_stopping":
        check_int(name, value, low=0)
    else:  # drop probabilities and label smoothing: [0, 1)
        check_probability(name, value, allow_one=False)


def _seed_data(config: ZooConfig, ctx: RunContext, seed: int) -> FashionBatches:
    """The seed's training subset, validation split and test batches (made once per seed)."""
    return fashion_batches(
        ctx.device,
        batch_size=config.batch_size,
        seed=seed,
        train_subset=config.train_subset,
        test_subset=config.test_subset,
        val_fraction=config.val_fraction,
        kfold=config.kfold,
        fold=config.fold,
    )


def _train_one(
    config: ZooConfig,
    ctx: RunContext,
    key: dict[str, Any],
    strengths: dict[str, float],
    data: FashionBatches,
    epoch_rows: list[dict[str, Any]],
) -> dict[str, Any]:
    """Train one network with ``strengths`` at ``key["seed"]`` and measure it after the last
    epoch; the per-epoch rows, prefixed by ``key``, go to ``epoch_rows``."""
    seed = key["seed"]
    seed_everything(seed)
    # A fresh iterator with the seed's own order: every family sees the same batches.
    train = BatchIterator(*data.train.tensors, batch_size=config.batch_size, shuffle=True, seed=seed)
    val, test = data.val, data.test
    assert val is not None  # the config requires a validation split
    recipe = build_recipe(key["network"], strengths, lr=config.lr, momentum=config.momentum, seed=seed)
    model = recipe.model.to(ctx.device)
    collect = LambdaCallback(on_epoch_end=lambda state, row: epoch_rows.append({**key, **row}))
    # metrics.csv gets each epoch's row (tagged with the training) as it ends; no per-epoch table.
    outside = ctx.callbacks(tags=key, table=False)
    start = time.perf_counter()
    history = fit(
        model,
        train,
        loss_fn=recipe.loss_fn,
        optimizer=recipe.optimizer,
        epochs=config.epochs,
        eval_sets={"val": val},
        device=ctx.device,
        penalty=recipe.penalty,
        callbacks=[*recipe.callbacks, collect, *outside],
        progress=False,
    )
    plain = nn.CrossEntropyLoss()
    row: dict[str, Any] = {**key, "epochs": len(history)}
    row.update(evaluate(model, val, plain, device=ctx.device, prefix="val"))
    row.update(evaluate(model, test, plain, device=ctx.device, prefix="test"))
    row["seconds"] = time.perf_counter() - start
    return row


def _combination(config: ZooConfig, selected: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The strengths of the combination: each of :data:`COMBINED` at its selected strength
    (a family this zoo does not run: the middle of its grid)."""
    strengths: dict[str, float] = {}
    for family in COMBINED:
        if family in selected:
            strengths.update(selected[family]["strengths"])
        else:
            grid = config.grid(family)
            strengths[family] = float(grid[len(grid) // 2])
    return strengths


def _summarise(
    network: str, family: str, rows: list[dict[str, Any]], baseline: list[dict[str, Any]] | None
) -> dict[str, Any]:
    rows = sorted(rows, key=lambda r: r["seed"])
    acc, acc_half = t_interval([r["test_acc"] for r in rows])
    loss, loss_half = t_interval([r["test_loss"] for r in rows])
    out: dict[str, Any] = {
        "network": network,
        "family": family,
        "strength": rows[0]["strength"],
        "test_acc": acc,
        "test_acc_ci": acc_half,
        "test_loss": loss,
        "test_loss_ci": loss_half,
        "val_acc": sum(r["val_acc"] for r in rows) / len(rows),
    }
    if baseline is not None and family != "none":
        base = sorted(baseline, key=lambda r: r["seed"])
        diff, half, verdict = paired_verdict([r["test_acc"] for r in rows], [r["test_acc"] for r in base])
        out.update({"acc_vs_none": diff, "acc_vs_none_ci": half, "vs_none": verdict})
    else:
        out.update({"acc_vs_none": math.nan, "acc_vs_none_ci": math.nan, "vs_none": ""})
    return out


def zoo_figure(table: Sequence[dict[str, Any]], networks: Sequence[str], seeds: int) -> Figure:
    """Per network, the test accuracy of each family at its selected strength, with the 95 % interval."""
    fig, axes = new_figure(6.0, 5.0, ncols=len(networks))
    axes_list = list(axes) if len(networks) > 1 else [axes]
    for ax, network in zip(axes_list, networks):
        rows = [r for r in table if r["network"] == network]
        y = list(range(len(rows)))
        colors = [
            "tab:green" if r["vs_none"] == "better" else "tab:red" if r["vs_none"] == "worse" else "tab:gray"
            for r in rows
        ]
        ax.errorbar(
            [r["test_acc"] for r in rows],
            y,
            xerr=[r["test_acc_ci"] for r in rows],
            fmt="none",
            ecolor="black",
            capsize=3,
        )
        ax.scatter(
            [r["test_acc"] for r in rows],
            y,
            c=colors,
            zorder=3,
            label="selected strength (green/red: differs from none)",
        )
        none = [r for r in rows if r["family"] == "none"]
        if none:
            ax.axvline(none[0]["test_acc"], color="tab:gray", linestyle=":", label="none")
        ax.set_yticks(y, [f"{r['family']} ({r['strength']})" for r in rows], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(f"test accuracy (mean ± 95% CI over {seeds} seeds)")
        ax.set_ylabel("family (selected strength)")
        ax.set_title(f"{network}: regularizers selected on validation")
        ax.grid(True, axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2)
    fig.tight_layout()
    return fig


_QUICK = {
    "seeds": 2,
    "epochs": 1,
    "train_subset": 192,
    "test_subset": 128,
    "batch_size": 64,
    "l2_grid": (1e-3,),
    "l1_grid": (1e-5,),
    "dropout_grid": (0.1, 0.5),
    "dropconnect_grid": (0.3,),
    "dropblock_grid": (0.1,),
    "droppath_grid": (0.2,),
    "gaussian_grid": (0.3,),
    "label_smoothing_grid": (0.1,),
    "maxnorm_grid": (2.0,),
    "early_stopping_grid": (1,),
}


@register(
    "zoo",
    summary="every regularizer family on an MLP and a CNN (Fashion-MNIST), strengths selected on validation",
    config_type=ZooConfig,
    quick=_QUICK,
    cannot_resume="it trains one model per family, strength and seed, each in its own fit; "
    "an interrupted zoo keeps every finished training in trials.csv",
    diverge={"lr": 1e20},
)
def run_zoo(config: ZooConfig, ctx: RunContext) -> Result:
    """The regularizer zoo: none, L2 (weight decay), L1, dropout, DropConnect, DropBlock,
    DropPath, Gaussian dropout, label smoothing, max-norm, early stopping and a
    combination (dropout + weight decay + max-norm), on a residual MLP and a small
    residual CNN on a Fashion-MNIST subset. Each family's strength is selected on a
    validation split from its grid (`<family>_grid`), averaged over `seeds` seeds;
    the table gives the test accuracy and loss at the selected strength (mean ± 95%
    interval over seeds) and whether the paired difference from `none` exceeds the
    seed spread. Writes zoo.csv, zoo.png, trials.csv and metrics.csv."""
    seeds = [config.seed + k for k in range(config.seeds)]
    trials: list[dict[str, Any]] = []
    epoch_rows: list[dict[str, Any]] = []
    table: list[dict[str, Any]] = []

    data: dict[int, FashionBatches] = {}

    def train(network: str, family: str, strengths: dict[str, float], seed: int) -> dict[str, Any]:
        if seed not in data:
            data[seed] = _seed_data(config, ctx, seed)
        key = {"network": network, "family": family, "strength": describe_strengths(strengths), "seed": seed}
        row = _train_one(config, ctx, key, strengths, data[seed], epoch_rows)
        trials.append(row)
        ctx.write_csv("trials.csv", trials)
        ctx.log(
            f"{row['network']:>4} {family:<15} {row['strength']:<22} seed {row['seed']}: "
            f"val acc {row['val_acc']:.4f}, test acc {row['test_acc']:.4f} ({row['seconds']:.1f} s)"
        )
        return row

    for network in config.networks:
        selected: dict[str, dict[str, Any]] = {}  # family -> the selected strengths and its rows
        for family in [f for f in config.families if f != "combination" and applies_to(f, network)]:
            rows = [
                {**train(network, family, strengths, seed), "strengths": strengths}
                for strengths in grid_strengths(family, config.grid(family))
                for seed in seeds
            ]
            best = select_strength(rows)
            chosen = [r for r in rows if r["strength"] == best]
            selected[family] = {"strengths": chosen[0]["strengths"], "rows": chosen}
        if "combination" in config.families:
            combined = _combination(config, selected)
            rows = [train(network, "combination", combined, seed) for seed in seeds]
            selected["combination"] = {"strengths": combined, "rows": rows}
        baseline = selected["none"]["rows"] if "none" in selected else None
        for family in config.families:
            if family in selected:
                table.append(_summarise(network, family, selected[family]["rows"], baseline))
        ctx.write_csv("zoo.csv", table)

    ctx.save_figure("zoo.png", zoo_figure(table, [n for n in config.networks], config.seeds))
    summary: dict[str, Any] = {"trainings": len(trials), "seeds": config.seeds}
    for row in table:
        summary[f"{row['network']}_{row['family']}_test_acc"] = row["test_acc"]
    for network in config.networks:
        mine = [r for r in table if r["network"] == network]
        summary[f"{network}_best"] = max(mine, key=lambda r: r["test_acc"])["family"]
        summary[f"{network}_better_than_none"] = [r["family"] for r in mine if r["vs_none"] == "better"]
        summary[f"{network}_worse_than_none"] = [r["family"] for r in mine if r["vs_none"] == "worse"]
    printed = [
        {
            "network": r["network"],
            "family": r["family"],
            "strength": r["strength"],
            "test_acc": f"{r['test_acc']:.4f} ± {r['test_acc_ci']:.4f}",
            "test_loss": f"{r['test_loss']:.4f} ± {r['test_loss_ci']:.4f}",
            "vs_none": r["vs_none"] or "",
        }
        for r in table
    ]
    return Result(summary=summary, table=printed)
