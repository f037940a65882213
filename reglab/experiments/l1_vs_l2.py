"""Seeds 001, 003, 004: L1 versus L2 of matched strength on the same model.

The model and data are the weight-decay experiment's (d2l, seed 004): a linear
model with 200 inputs fitted to 20 samples of ``y = X w + b + eps``
(:func:`reglab.experiments.weight_decay.make_regression_problem`), started at
``w ~ N(0, 1)``, ``b = 0``, trained by minibatch SGD (batch 5, lr 0.003, 100
epochs) three times from the same initial weights and batch order: without a
penalty, with ``L2 = lam / 2 * ||w||^2`` and with ``L1 = lam * ||w||_1``
(:func:`reglab.l2_penalty`, :func:`reglab.l1_penalty`; the weight only, never
the bias).

**Matched strength.** One ``strength`` ``lam`` drives both penalties with
reglab's factors: the L2 gradient is ``lam * w`` and the L1 (sub)gradient is
``lam * sign(w)``, so on a weight of size 1 (the scale of the ``N(0, 1)``
initial weights) both pull with the same force ``lam``. The difference is what
happens as a weight shrinks: L2's pull shrinks with it (weights get small, not
zero), L1's stays ``lam`` until the weight is exactly zero.

**The L1 step.** Plain SGD on ``lam * |w|`` moves every weight by ``lr * lam``
each step towards 0 and past it, so weights oscillate around 0 with amplitude
about ``lr * lam`` and are never exactly 0. With ``prox=True`` (the default)
the L1 model is trained by proximal SGD (ISTA): an SGD step on the data loss,
then soft-thresholding ``w <- sign(w) * max(|w| - lr * lam, 0)``, the exact
minimiser of ``lam * |w| + ||w - v||^2 / (2 lr)``. Weights that the data do not
hold away from 0 land exactly on 0. ``prox=False`` adds the penalty to the loss
instead (subgradient SGD) to show the oscillation.

Sparsity is the fraction of weights with ``|w| < zero_tol``. Random streams:
data from ``seed``, initial weights from ``stream_seed(seed, 1)``, batch order
from ``stream_seed(seed, 2)``, as in weight-decay.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..core.checks import check_bool, check_choice, check_float, check_int
from ..engine.callbacks import Callback
from ..engine.epochs import EpochResult, RunningMean, run_epochs, tensor_module
from ..engine.seeding import seed_everything
from ..engine.state import TrainState
from ..regularizers.penalties import l1_penalty, l2_penalty
from ..runs.experiment import Result, RunContext, register, setting_help
from ..runs.figures import new_figure
from ..runs.sweep_spec import SweepSpec
from .common import SeedSettings, SplitSettings, setting_fold, setting_kfold, setting_val_fraction
from .weight_decay import (
    WeightDecayConfig,
    batch_orders,
    init_params,
    make_regression_problem,
    split_losses,
    squared_loss,
)

__all__ = ["L1VsL2Config", "PENALTIES", "soft_threshold", "sparsity", "train_penalized"]

PENALTIES = ("none", "l2", "l1")


@dataclass(frozen=True)
class L1VsL2Config(SeedSettings, SplitSettings):
    strength: float = field(
        default=1.0, metadata=setting_help("lam of both penalties: L1 = lam*||w||_1, L2 = lam/2*||w||^2")
    )
    prox: bool = field(
        default=True, metadata=setting_help("L1 by proximal SGD (soft-thresholding); False: subgradient")
    )
    zero_tol: float = field(default=1e-3, metadata=setting_help("a weight with |w| < zero_tol counts as zero"))
    n_train: int = field(default=20, metadata=setting_help("training samples (validation is carved from them)"))
    n_test: int = field(default=100, metadata=setting_help("test samples"))
    num_inputs: int = field(default=200, metadata=setting_help("input dimension"))
    batch_size: int = field(default=5, metadata=setting_help("minibatch size"))
    lr: float = field(default=0.003, metadata=setting_help("SGD learning rate"))
    epochs: int = field(default=100, metadata=setting_help("training epochs"))
    eval_every: int = field(default=5, metadata=setting_help("record losses and sparsity every this many epochs"))
    bins: int = field(default=60, metadata=setting_help("histogram bins"))
    seeds: int = field(default=1, metadata=setting_help("run seeds seed, seed+1, ..., seed+seeds-1"))
    seed: int = field(default=0, metadata=setting_help("first seed: data, initial weights, batch order"))
    val_fraction: float = setting_val_fraction()
    kfold: int = setting_kfold()
    fold: int = setting_fold()

    def __post_init__(self) -> None:
        check_float("strength", self.strength, low=0.0)
        check_bool("prox", self.prox)
        check_float("zero_tol", self.zero_tol, low=0.0, low_open=True)
        check_int("n_train", self.n_train, low=2)
        check_int("n_test", self.n_test, low=1)
        check_int("num_inputs", self.num_inputs, low=1)
        check_int("batch_size", self.batch_size, low=1)
        check_float("lr", self.lr, low=0.0, low_open=True)
        check_int("epochs", self.epochs, low=1)
        check_int("eval_every", self.eval_every, low=1, high=self.epochs)
        check_int("bins", self.bins, low=1)
        check_int("seeds", self.seeds, low=1)
        super().__post_init__()
        self.validation_split(self.n_train)  # the split must leave samples on both sides

    def problem(self) -> WeightDecayConfig:
        """The weight-decay settings of the same data (true w = 0.01, b = 0.05, noise 0.01)."""
        return WeightDecayConfig(
            n_train=self.n_train,
            n_test=self.n_test,
            num_inputs=self.num_inputs,
            batch_size=self.batch_size,
            lr=self.lr,
            epochs=self.epochs,
            eval_every=self.eval_every,
            val_fraction=self.val_fraction,
            kfold=self.kfold,
            fold=self.fold,
        )


def soft_threshold(w: torch.Tensor, threshold: float) -> torch.Tensor:
    """``sign(w) * max(|w| - threshold, 0)``, in place: the proximal step of ``threshold * |w|``.

    Args:
        w: any shape; modified in place (no autograd).
        threshold: ``>= 0``.

    Returns:
        ``w``.
    """
    return w.copy_(w.sign() * (w.abs() - threshold).clamp_min_(0.0))


def sparsity(w: torch.Tensor, zero_tol: float) -> float:
    """The fraction of entries of ``w`` with ``|w| < zero_tol``."""
    return (w.abs() < zero_tol).double().mean().item()


def train_penalized(
    config: L1VsL2Config,
    penalty: str,
    seed: int,
    device: torch.device,
    *,
    callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """Train the linear model of one seed with ``penalty`` in ``("none", "l2", "l1")``.

    L2 and subgradient L1 add the penalty to the batch-mean loss; proximal L1
    (``config.prox``) steps on the data loss, then soft-thresholds ``w`` by
    ``lr * strength``. All three start from the same weights and see the same batches.
    The epochs run through :func:`reglab.engine.epochs.run_epochs` (rows every
    ``eval_every`` epochs to ``callbacks``, a non-finite loss or penalty stops
    training with the epoch named).

    Returns:
        ``{"penalty", "seed", "train_loss", "test_loss", "val_loss" (with a split),
        "sparsity", "w_norm", "curve": [rows every eval_every epochs], "w": (num_inputs, 1), "b": (1,)}``.
    """
    check_choice("penalty", penalty, PENALTIES)
    problem = config.problem()
    data = make_regression_problem(problem, seed, device)
    X, y, *_ = data
    w, b = init_params(config.num_inputs, seed, device)
    orders = batch_orders(X.shape[0], config.epochs, seed).to(device)
    optimizer = torch.optim.SGD([w, b], lr=config.lr)
    lam = config.strength
    prox = penalty == "l1" and config.prox

    def measure() -> dict[str, float]:
        return {**split_losses(data, w, b), "sparsity": sparsity(w.detach(), config.zero_tol)}

    def epoch(state: TrainState) -> EpochResult:
        losses, penalties = RunningMean(), RunningMean()
        for idx in orders[state.epoch - 1].split(config.batch_size):
            data_loss = squared_loss(X[idx] @ w + b, y[idx]).mean()
            loss = data_loss
            if penalty == "l2":
                term = l2_penalty([w], lam)
                loss = loss + term
                penalties.add(term)
            elif penalty == "l1" and not prox:
                term = l1_penalty([w], lam)
                loss = loss + term
                penalties.add(term)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if prox:
                with torch.no_grad():
                    soft_threshold(w, config.lr * lam)
            losses.add(data_loss, idx.numel())
        recorded = state.epoch % config.eval_every == 0 or state.epoch == config.epochs
        return EpochResult(
            losses.mean(), penalties.mean() if penalties.count else None, measure() if recorded else None
        )

    curve = run_epochs(
        epoch,
        model=tensor_module(w=w, b=b),
        optimizer=optimizer,
        epochs=config.epochs,
        device=device,
        callbacks=callbacks,
    ).rows
    final = {k: v for k, v in curve[-1].items() if k != "epoch"}
    return {
        "penalty": penalty,
        "seed": seed,
        **final,
        "w_norm": torch.linalg.vector_norm(w.detach()).item(),
        "curve": curve,
        "w": w.detach(),
        "b": b.detach(),
    }


def _histogram_figure(config: L1VsL2Config, runs: list[dict[str, Any]]) -> Any:
    fig, ax = new_figure(6.5, 4.2)
    weights = {r["penalty"]: r["w"].flatten().cpu().double() for r in runs}
    top = max(w.abs().max().item() for w in weights.values()) or 1.0
    edges = torch.linspace(-top, top, config.bins + 1).tolist()
    names = {"none": "no penalty", "l2": "L2", "l1": "L1" + (" (proximal)" if config.prox else " (subgradient)")}
    for penalty, color in zip(PENALTIES, ("C7", "C0", "C3")):
        run = next(r for r in runs if r["penalty"] == penalty)
        ax.hist(
            weights[penalty].tolist(),
            bins=edges,
            histtype="step",
            linewidth=1.6,
            color=color,
            label=f"{names[penalty]}: {run['sparsity']:.0%} with |w| < {config.zero_tol:g}",
        )
    ax.set_yscale("log")
    ax.set_xlabel("weight value w_i")
    ax.set_ylabel("count (log scale)")
    ax.set_title(f"Weights after training, strength {config.strength:g}, seed {runs[0]['seed']}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


@register(
    "l1-vs-l2",
    summary="L1 vs L2 of matched strength on the 200-input, 20-sample regression: L1 is sparse (seeds 001/003/004)",
    config_type=L1VsL2Config,
    quick={"epochs": 10, "num_inputs": 40},
    # `strength` is a plain field; with seeds=1 the summary has the L1 model's flat losses.
    sweep=SweepSpec(metric="loss", mode="min", base={"seeds": 1}, log_knobs=("strength", "lr")),
    cannot_resume="it trains one model per penalty and seed in its own loop, not one fit",
    diverge={"lr": 1e9},
)
def run_l1_vs_l2(config: L1VsL2Config, ctx: RunContext) -> Result:
    """The same linear model (weight-decay's 200 inputs fitted to 20 samples,
    SGD batch 5, lr 0.003, 100 epochs) trained three times from the same initial
    weights and batches: without a penalty, with L2 = strength/2 * ||w||^2 and
    with L1 = strength * ||w||_1 (the same force on a weight of size 1, the
    initial scale). L1 is trained by proximal SGD (soft-thresholding after each
    step; prox=False uses the subgradient, whose weights oscillate around 0).
    L1 drives most weights exactly to zero while L2 only makes them small: the
    fraction of weights with |w| < zero_tol is many times larger with L1.
    Writes histogram.png (the three weight histograms, log counts),
    metrics.csv (losses and sparsity every eval_every epochs) and a table of the
    final train/test loss, sparsity and ||w|| per penalty and seed. With
    seeds=1 the summary has the L1 model's train_loss, test_loss and val_loss
    (with a split) for sweeps over strength, and sparsity_l1/_l2/_none.
    """
    seed_everything(config.seed)
    runs, table = [], []
    for seed in range(config.seed, config.seed + config.seeds):
        for penalty in PENALTIES:
            tags = {"penalty": penalty, "seed": seed}
            run = train_penalized(config, penalty, seed, ctx.device, callbacks=ctx.callbacks(tags=tags))
            runs.append(run)
            table.append({k: v for k, v in run.items() if k not in ("curve", "w", "b")})
        ctx.log(
            f"seed {seed}: sparsity L1 {runs[-1]['sparsity']:.3f}, L2 {runs[-2]['sparsity']:.3f}, "
            f"none {runs[-3]['sparsity']:.3f}"
        )
    ctx.save_figure("histogram.png", _histogram_figure(config, runs[:3]))
    summary: dict[str, Any] = {
        "strength": config.strength,
        "prox": config.prox,
        "zero_tol": config.zero_tol,
        "runs": table,
    }
    for penalty in PENALTIES:
        mine = [r for r in table if r["penalty"] == penalty]
        summary[f"sparsity_{penalty}"] = statistics.median(r["sparsity"] for r in mine)
        summary[f"test_loss_{penalty}"] = statistics.median(r["test_loss"] for r in mine)
    if config.seeds == 1:
        # Flat keys of the L1 model for sweeps over strength.
        l1 = next(r for r in table if r["penalty"] == "l1")
        summary.update({k: v for k, v in l1.items() if k.endswith("_loss")})
    return Result(summary=summary, table=table)
