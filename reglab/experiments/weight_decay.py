"""Seed 004 (d2l "weight decay"): high-dimensional linear regression with 20 samples.

``y = X w + b + eps`` with 200 inputs, ``w = 0.01 * 1``, ``b = 0.05``,
``X ~ N(0, 1)``, ``eps ~ N(0, 0.01^2)``; 20 training and 100 test samples. A
linear model initialised with ``w ~ N(0, 1)``, ``b = 0`` is trained by
minibatch SGD (batch 5, lr 0.003, 100 epochs), with the L2 penalty on the
weight only (never the bias), in two versions that are the same mathematics:

- ``scratch``: the objective ``mean(squared_loss) + lam * ||w||^2 / 2`` and a
  hand-written SGD step. (d2l adds the penalty to every sample's loss, calls
  ``l.sum().backward()`` and divides the step by the batch size; that is
  exactly the batch *mean* of the loss plus the penalty, which is computed here.)
- ``optimizer``: the data loss alone and ``torch.optim.SGD`` with parameter
  groups, ``weight_decay=lam`` on ``w`` only (SGD adds ``lam * w`` to the
  gradient: the gradient of ``lam * ||w||^2 / 2``).

``squared_loss`` is d2l's ``(y_hat - y)^2 / 2``; every reported loss is its
mean over a data set. Without decay the 20 samples cannot pin down 200 weights
and ``||w||`` stays near its initial ~sqrt(200); with ``lam = 3`` it shrinks
towards the true ``||w|| = 0.14`` and the test loss falls by orders of magnitude.

Everything random comes from generators derived from ``seed`` (see
:func:`reglab.engine.seeding.stream_seed`), so a run with one lambda is
reproducible by any other implementation of these functions (the sweeps'
vectorized backend relies on it):

1. data: one CPU generator seeded with ``seed`` draws the training set
   (features, then noise), then the test set (:func:`make_regression_problem`);
   the validation samples are carved from the training set by
   :func:`reglab.data.splits.validation_split` (its own fixed split seed);
2. initial weights: a CPU generator seeded with ``stream_seed(seed, 1)``
   (:func:`init_params`);
3. batch order: a CPU generator seeded with ``stream_seed(seed, 2)``, one
   ``randperm`` per epoch, the same for every lambda and version
   (:func:`batch_orders`).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..core.checks import check_choice, check_float, check_int, invalid_argument
from ..data.synthetic import synthetic_linear
from ..engine.callbacks import Callback
from ..engine.epochs import EpochResult, RunningMean, run_epochs, tensor_module
from ..engine.seeding import seed_everything, stream_seed
from ..engine.state import TrainState
from ..runs.experiment import Result, RunContext, register, setting_help
from ..runs.figures import new_figure
from ..runs.sweep_spec import Knob, SweepSpec
from .common import SeedSettings, SplitSettings, grad_of, setting_fold, setting_kfold, setting_val_fraction

__all__ = [
    "WeightDecayConfig",
    "VERSIONS",
    "make_regression_problem",
    "init_params",
    "batch_orders",
    "squared_loss",
    "half_squared_norm",
    "train_one",
]

VERSIONS = ("scratch", "optimizer")
INIT_STREAM, ORDER_STREAM = 1, 2


@dataclass(frozen=True)
class WeightDecayConfig(SeedSettings, SplitSettings):
    n_train: int = field(default=20, metadata=setting_help("training samples (validation is carved from them)"))
    n_test: int = field(default=100, metadata=setting_help("test samples"))
    num_inputs: int = field(default=200, metadata=setting_help("input dimension"))
    true_w: float = field(default=0.01, metadata=setting_help("every entry of the true weight vector"))
    true_b: float = field(default=0.05, metadata=setting_help("the true bias"))
    noise: float = field(default=0.01, metadata=setting_help("standard deviation of the label noise"))
    batch_size: int = field(default=5, metadata=setting_help("minibatch size"))
    lr: float = field(default=0.003, metadata=setting_help("SGD learning rate"))
    epochs: int = field(default=100, metadata=setting_help("training epochs"))
    eval_every: int = field(default=5, metadata=setting_help("record train/test loss every this many epochs"))
    lambdas: tuple[float, ...] = field(
        default=(0.0, 3.0), metadata=setting_help("L2 strengths on w (penalty lam*||w||^2/2)")
    )
    versions: tuple[str, ...] = field(default=VERSIONS, metadata=setting_help("'scratch' and/or 'optimizer'"))
    seeds: int = field(default=1, metadata=setting_help("run seeds seed, seed+1, ..., seed+seeds-1"))
    seed: int = field(default=0, metadata=setting_help("first seed: data, initial weights, batch order"))
    val_fraction: float = setting_val_fraction()
    kfold: int = setting_kfold()
    fold: int = setting_fold()

    def __post_init__(self) -> None:
        check_int("n_train", self.n_train, low=2)
        check_int("n_test", self.n_test, low=1)
        check_int("num_inputs", self.num_inputs, low=1)
        check_float("true_w", self.true_w)
        check_float("true_b", self.true_b)
        check_float("noise", self.noise, low=0.0)
        check_int("batch_size", self.batch_size, low=1)
        check_float("lr", self.lr, low=0.0, low_open=True)
        check_int("epochs", self.epochs, low=1)
        check_int("eval_every", self.eval_every, low=1, high=self.epochs)
        if not isinstance(self.lambdas, tuple) or not self.lambdas:
            raise invalid_argument("lambdas", "a non-empty tuple of floats >= 0", self.lambdas)
        for lam in self.lambdas:
            check_float("lambdas", lam, low=0.0)
        if not isinstance(self.versions, tuple) or not self.versions or len(set(self.versions)) != len(self.versions):
            raise invalid_argument("versions", f"a non-empty tuple of distinct names from {VERSIONS}", self.versions)
        for version in self.versions:
            check_choice("versions", version, VERSIONS)
        check_int("seeds", self.seeds, low=1)
        super().__post_init__()
        self.validation_split(self.n_train)  # the split must leave samples on both sides


Problem = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]


def make_regression_problem(config: WeightDecayConfig, seed: int, device: torch.device) -> Problem:
    """Draw the data of one seed.

    One CPU generator seeded with ``seed`` draws, in order, the ``n_train``
    training samples then the ``n_test`` test samples
    (:func:`reglab.data.synthetic_linear`: features, then noise). The
    validation split, if configured, takes its samples out of the training set.

    Returns:
        ``(X, y, X_test, y_test, X_val, y_val)`` on ``device``: ``X`` of shape
        ``(n, num_inputs)``, ``y`` of shape ``(n, 1)``; the validation pair is
        ``None, None`` without a split.
    """
    g = torch.Generator().manual_seed(seed)
    w = torch.full((config.num_inputs,), config.true_w)
    X, y = synthetic_linear(w, config.true_b, config.n_train, config.noise, generator=g)
    Xt, yt = synthetic_linear(w, config.true_b, config.n_test, config.noise, generator=g)
    train_idx, val_idx = config.validation_split(config.n_train)
    Xv = yv = None
    if val_idx is not None:
        Xv, yv = X[val_idx].to(device), y[val_idx].to(device)
    return X[train_idx].to(device), y[train_idx].to(device), Xt.to(device), yt.to(device), Xv, yv


def init_params(num_inputs: int, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """d2l's ``init_params``: ``w ~ N(0, 1)`` of shape ``(num_inputs, 1)`` drawn from
    a CPU generator seeded with ``stream_seed(seed, 1)``, and ``b = 0`` of shape ``(1,)``.
    Both are float32 leaf tensors on ``device`` that require gradients."""
    g = torch.Generator().manual_seed(stream_seed(seed, INIT_STREAM))
    w = torch.randn(num_inputs, 1, generator=g).to(device).requires_grad_(True)
    b = torch.zeros(1, device=device, requires_grad=True)
    return w, b


def batch_orders(n: int, epochs: int, seed: int) -> torch.Tensor:
    """The sample order of every epoch, shape ``(epochs, n)`` (on the CPU): row ``e``
    is the ``e``-th ``torch.randperm(n)`` of a CPU generator seeded with
    ``stream_seed(seed, 2)``. Batches are consecutive slices of ``batch_size``."""
    g = torch.Generator().manual_seed(stream_seed(seed, ORDER_STREAM))
    return torch.stack([torch.randperm(n, generator=g) for _ in range(epochs)])


def squared_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d2l's per-sample ``(y_hat - y)^2 / 2``, shape ``(n, 1)``."""
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def half_squared_norm(w: torch.Tensor) -> torch.Tensor:
    """``||w||^2 / 2`` (a scalar): the penalty whose gradient SGD's ``weight_decay`` adds."""
    return (w**2).sum() / 2


def split_losses(problem: Problem, w: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    """Mean ``squared_loss`` of the model ``(w, b)`` on the training and test sets of
    ``problem`` and on its validation set when it has one (``val_loss``)."""

    def mean_loss(X: torch.Tensor, y: torch.Tensor) -> float:
        with torch.no_grad():
            return squared_loss(X @ w + b, y).mean().item()

    X, y, Xt, yt, Xv, yv = problem
    out = {"train_loss": mean_loss(X, y), "test_loss": mean_loss(Xt, yt)}
    if Xv is not None and yv is not None:  # both or neither (make_regression_problem)
        out["val_loss"] = mean_loss(Xv, yv)
    return out


def train_one(
    config: WeightDecayConfig,
    lam: float,
    version: str,
    seed: int,
    device: torch.device,
    *,
    callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """Train one linear model with L2 strength ``lam`` on the weight, in ``version``.

    The epochs run through :func:`reglab.engine.epochs.run_epochs`: the losses are
    recorded every ``eval_every`` epochs (and after the last), each row going to
    ``callbacks`` at once, and a non-finite mean batch loss or penalty raises
    :class:`~reglab.core.errors.DivergenceError` naming the epoch.

    Returns:
        ``{"lambda", "version", "seed", "train_loss", "test_loss", "val_loss"
        (with a split), "w_norm", "curve": [rows every eval_every epochs],
        "w": (num_inputs, 1), "b": (1,)}``; losses are means of ``squared_loss``.
    """
    check_choice("version", version, VERSIONS)
    lam = check_float("lam", lam, low=0.0)
    problem = make_regression_problem(config, seed, device)
    X, y, *_ = problem
    w, b = init_params(config.num_inputs, seed, device)
    orders = batch_orders(X.shape[0], config.epochs, seed).to(device)
    optimizer: torch.optim.SGD | None = None
    if version == "optimizer":
        groups: list[dict[str, Any]] = [{"params": [w], "weight_decay": lam}, {"params": [b]}]
        optimizer = torch.optim.SGD(groups, lr=config.lr)

    def epoch(state: TrainState) -> EpochResult:
        losses, penalties = RunningMean(), RunningMean()
        for idx in orders[state.epoch - 1].split(config.batch_size):
            loss = squared_loss(X[idx] @ w + b, y[idx]).mean()
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            else:
                penalty = lam * half_squared_norm(w)
                (loss + penalty).backward()
                penalties.add(penalty)
                with torch.no_grad():
                    for name, param in (("w", w), ("b", b)):
                        param -= config.lr * grad_of(param, name)
                        param.grad = None
            losses.add(loss, idx.numel())
        recorded = state.epoch % config.eval_every == 0 or state.epoch == config.epochs
        return EpochResult(
            losses.mean(),
            penalties.mean() if penalties.count else None,
            split_losses(problem, w, b) if recorded else None,
        )

    curve = run_epochs(
        epoch,
        model=tensor_module(w=w, b=b),
        optimizer=optimizer,
        epochs=config.epochs,
        device=device,
        callbacks=callbacks,
    ).rows
    final = dict(curve[-1])
    del final["epoch"]
    w_norm = torch.linalg.vector_norm(w.detach()).item()
    return {
        "lambda": lam,
        "version": version,
        "seed": seed,
        **final,
        "w_norm": w_norm,
        "curve": curve,
        "w": w.detach(),
        "b": b.detach(),
    }


def _loss_figure(config: WeightDecayConfig, seed: int, runs: list[dict[str, Any]]) -> Any:
    lams = list(dict.fromkeys(config.lambdas))
    fig, axes = new_figure(5.0, 3.8, ncols=len(lams))
    axes = [axes] if len(lams) == 1 else list(axes)
    styles = {"scratch": "-", "optimizer": "--"}
    for ax, lam in zip(axes, lams):
        for run in (r for r in runs if r["lambda"] == lam and r["seed"] == seed):
            epochs = [row["epoch"] for row in run["curve"]]
            for key, color in (("train_loss", "C0"), ("test_loss", "C1"), ("val_loss", "C2")):
                if key in run["curve"][0]:
                    ax.plot(
                        epochs,
                        [row[key] for row in run["curve"]],
                        styles[run["version"]],
                        color=color,
                        marker="o",
                        markersize=2,
                        label=f"{key.split('_')[0]} ({run['version']})",
                    )
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("mean squared loss (log scale)")
        ax.set_title(f"lambda = {lam:g}, seed {seed}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


@register(
    "weight-decay",
    summary="d2l weight decay: 200-input linear regression on 20 samples, lambda 0 vs 3 (seed 004)",
    config_type=WeightDecayConfig,
    quick={"epochs": 10, "num_inputs": 20},
    # A sweep trains one lambda per trial, the optimizer's weight_decay version, one seed per
    # trial (--seeds sets `seed`); all lambdas of a sweep train as one stack.
    sweep=SweepSpec(
        knobs=(
            Knob(
                "lambda",
                0.0,
                lambda value: {"lambdas": (value,), "versions": ("optimizer",)},
                help="the weight-decay strength",
            ),
        ),
        metric="loss",
        mode="min",
        base={"seeds": 1},
        log_knobs=("lambda", "lr"),
        vectorized="reglab.experiments.weight_decay_stacked:WeightDecayVectorized",
    ),
    cannot_resume="it trains one model per lambda and version in its own loop, not one fit",
    diverge={"lr": 1e9},
)
def run_weight_decay(config: WeightDecayConfig, ctx: RunContext) -> Result:
    """d2l's weight-decay experiment (seed 004): a linear model with 200 inputs is
    fitted to only 20 samples by minibatch SGD, once per L2 strength lambda
    (decay on the weight, never the bias), both from scratch (penalty
    lam*||w||^2/2 in the loss) and with torch.optim.SGD's weight_decay on the
    weight's parameter group; both versions follow the same trajectory. Without
    decay the model memorises the training set: the training loss falls while
    the test loss stays high and ||w|| stays near its initial ~14. With lambda = 3
    ||w|| shrinks below 1 and the test loss is orders of magnitude lower. Writes
    loss.png (train and test loss every eval_every epochs, log scale, one panel
    per lambda), metrics.csv and a table of final losses and ||w|| per lambda,
    version and seed.
    """
    seed_everything(config.seed)
    runs, table = [], []
    for seed in range(config.seed, config.seed + config.seeds):
        for lam in config.lambdas:
            for version in config.versions:
                tags = {"lambda": lam, "version": version, "seed": seed}
                run = train_one(config, lam, version, seed, ctx.device, callbacks=ctx.callbacks(tags=tags))
                runs.append(run)
                table.append({k: v for k, v in run.items() if k not in ("curve", "w", "b")})
                ctx.log(
                    f"lambda {lam:g} {version} seed {seed}: ||w|| {run['w_norm']:.4f}, test loss {run['test_loss']:.4g}"
                )
    ctx.save_figure("loss.png", _loss_figure(config, config.seed, runs))
    summary: dict[str, Any] = {"runs": table}
    by_lam: dict[str, dict[str, float]] = {}
    for lam in dict.fromkeys(config.lambdas):
        mine = [r for r in runs if r["lambda"] == lam]
        by_lam[f"{lam:g}"] = {
            "w_norm_median": statistics.median(r["w_norm"] for r in mine),
            "test_loss_median": statistics.median(r["test_loss"] for r in mine),
        }
    summary["by_lambda"] = by_lam
    if len(config.versions) == 2:
        pairs = zip(runs[0::2], runs[1::2])
        summary["max_abs_w_diff_scratch_vs_optimizer"] = max((a["w"] - b["w"]).abs().max().item() for a, b in pairs)
    if len(runs) == 1:
        # Flat keys for sweeps over lambda.
        summary.update({k: v for k, v in table[0].items() if k.endswith("_loss") or k == "w_norm"})
    return Result(summary=summary, table=table)
