"""Seed 001: the 20-point curve-fitting demo, a plain net against a dropout net.

Twenty points ``y = x + noise * N(0, 1)`` on an even grid of [-1, 1] are the
training set; a test set (and, for sweeps, an optional validation set) is drawn
the same way with fresh noise. Two 1-300-300-1 ReLU nets with the *same*
initial weights are trained full-batch with Adam for 500 steps: one plain, one
with ``reglab.Dropout(p)`` after each hidden layer (p is the DROP probability,
PyTorch's convention; the notes' cs231n section uses the keep probability).
The plain net chases the noise; dropout keeps the fit close to the line.

The notes place dropout between the Linear layer and the ReLU; here it follows
the ReLU. Both orders give the same function, because ReLU commutes with a
0-or-1/(1-p) mask. The notes train the plain net with lr 0.001 and the dropout
net with lr 0.01; ``lr`` (default 0.01) sets both.

Random streams of seed ``s`` (see :func:`reglab.engine.seeding.stream_seed`):
the data come from a CPU generator seeded with ``s`` (train noise, then test
noise, then validation noise), the shared initial weights from stream 1, the
dropout masks from stream 2 (a generator on the run's device).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..core.checks import check_float, check_int, check_probability, invalid_argument
from ..core.errors import ConfigError
from ..engine.callbacks import Callback
from ..engine.epochs import EpochResult, run_epochs
from ..engine.seeding import make_generator, seed_everything, stream_seed
from ..engine.state import TrainState
from ..regularizers.inverted_dropout import Dropout
from ..runs.experiment import Result, RunContext, register, setting_help
from ..runs.figures import new_figure
from ..runs.sweep_spec import Selection, SweepSpec
from .common import SeedSettings, init_default_

__all__ = ["CurveFitConfig", "make_curve_data", "curve_net", "train_curve_net"]

_INIT_STREAM, _MASK_STREAM = 1, 2


@dataclass(frozen=True)
class CurveFitConfig(SeedSettings):
    n_samples: int = field(default=20, metadata=setting_help("training points (and test points) on [-1, 1]"))
    noise: float = field(default=0.3, metadata=setting_help("standard deviation of the label noise"))
    hidden: int = field(default=300, metadata=setting_help("units in each of the two hidden layers"))
    p: float = field(
        default=0.5, metadata=setting_help("drop probability of the dropout net (after each hidden layer)")
    )
    lr: float = field(default=0.01, metadata=setting_help("Adam learning rate of both nets (the notes also use 0.001)"))
    steps: int = field(default=500, metadata=setting_help("full-batch training steps"))
    eval_every: int = field(default=50, metadata=setting_help("record the test MSE every this many steps"))
    val_size: int = field(default=0, metadata=setting_help("validation points drawn like the test set (0: none)"))
    seeds: int = field(default=10, metadata=setting_help("run seeds seed, seed+1, ..., seed+seeds-1"))
    seed: int = field(default=1, metadata=setting_help("first seed: data, shared initial weights and masks"))

    def __post_init__(self) -> None:
        check_int("n_samples", self.n_samples, low=2)
        check_float("noise", self.noise, low=0.0)
        check_int("hidden", self.hidden, low=1)
        check_probability("p", self.p, allow_one=False)
        check_float("lr", self.lr, low=0.0, low_open=True)
        check_int("steps", self.steps, low=1)
        check_int("eval_every", self.eval_every, low=1, high=self.steps)
        if self.val_size == 1:
            raise invalid_argument("val_size", "0 (no validation set) or an integer >= 2", self.val_size)
        check_int("val_size", self.val_size, low=0)
        check_int("seeds", self.seeds, low=1)
        super().__post_init__()


def make_curve_data(
    config: CurveFitConfig, seed: int, device: torch.device
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The train, test and (if ``val_size``) val sets, each ``(x, y)`` of shape ``(n, 1)``.

    ``x`` is an even grid of [-1, 1]; ``y = x + noise * N(0, 1)``, the noise
    drawn from one CPU generator seeded with ``seed``: train, test, val in order.
    """
    g = torch.Generator().manual_seed(seed)
    sizes = {"train": config.n_samples, "test": config.n_samples, "val": config.val_size}
    out = {}
    for name, n in sizes.items():
        if n == 0:
            continue
        x = torch.linspace(-1.0, 1.0, n).unsqueeze(1)
        y = x + config.noise * torch.randn(n, 1, generator=g)
        out[name] = (x.to(device), y.to(device))
    return out


def curve_net(hidden: int, p: float, *, generator: torch.Generator | None = None) -> nn.Sequential:
    """``Linear(1, h), ReLU, [Dropout(p)], Linear(h, h), ReLU, [Dropout(p)], Linear(h, 1)``.

    Dropout layers are present only when ``p > 0``; they draw their masks from
    ``generator``.
    """

    def drop() -> list[nn.Module]:
        return [Dropout(p, generator=generator)] if p > 0 else []

    return nn.Sequential(
        nn.Linear(1, hidden),
        nn.ReLU(),
        *drop(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        *drop(),
        nn.Linear(hidden, 1),
    )


def _mse(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor]) -> float:
    model.eval()
    with torch.no_grad():
        value = F.mse_loss(model(data[0]), data[1]).item()
    model.train()
    return value


def train_curve_net(
    config: CurveFitConfig,
    p: float,
    seed: int,
    data: dict[str, tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    *,
    snapshot_steps: tuple[int, ...] = (),
    grid: torch.Tensor | None = None,
    callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """Train one net (plain when ``p == 0``) full-batch with Adam on ``data["train"]``.

    Each full-batch step is one epoch of :func:`reglab.engine.epochs.run_epochs`:
    the test MSE is recorded every ``eval_every`` steps (row ``{"epoch": step,
    "test_loss": ...}`` to ``callbacks`` at once), and a non-finite training loss
    raises :class:`~reglab.core.errors.DivergenceError` naming the step.

    Returns:
        ``{"curve": [(step, test_mse), ...], "train_loss", "test_loss",
        "val_loss" (with a val set), "snapshots": {step: predictions on grid}}``;
        losses are eval-mode MSEs (dropout off) after the last step.
    """
    model = curve_net(config.hidden, p, generator=make_generator(stream_seed(seed, _MASK_STREAM), device))
    init_default_(model, torch.Generator().manual_seed(stream_seed(seed, _INIT_STREAM)))
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    x, y = data["train"]
    snapshots: dict[int, torch.Tensor] = {}
    model.train()

    def step(state: TrainState) -> EpochResult:
        loss = F.mse_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        row = None
        if state.epoch % config.eval_every == 0 or state.epoch == config.steps:
            row = {"test_loss": _mse(model, data["test"])}
        if state.epoch in snapshot_steps and grid is not None:
            model.eval()
            with torch.no_grad():
                snapshots[state.epoch] = model(grid).squeeze(1).cpu()
            model.train()
        return EpochResult(loss.item(), row=row)

    history = run_epochs(
        step, model=model, optimizer=optimizer, epochs=config.steps, device=device, callbacks=callbacks
    )
    out: dict[str, Any] = {name + "_loss": _mse(model, pair) for name, pair in data.items()}
    out.update(curve=[(int(r["epoch"]), r["test_loss"]) for r in history.rows], snapshots=snapshots)
    return out


def _fit_figure(
    config: CurveFitConfig,
    seed: int,
    data: dict[str, tuple[torch.Tensor, torch.Tensor]],
    grid: torch.Tensor,
    runs: dict[str, dict[str, Any]],
    steps: list[int],
) -> Any:
    ncols = min(len(steps), 2)
    fig, axes = new_figure(5.0, 3.8, ncols=ncols, nrows=-(-len(steps) // ncols))
    axes = [axes] if len(steps) == 1 else list(axes.flat)
    xs, gx = {k: (v[0].cpu().squeeze(1), v[1].cpu().squeeze(1)) for k, v in data.items()}, grid.cpu().squeeze(1)
    for ax, step in zip(axes, steps):
        ax.scatter(*xs["train"], c="magenta", s=25, alpha=0.6, label="train")
        ax.scatter(*xs["test"], c="c", s=25, alpha=0.6, label="test")
        ax.plot(gx, runs["plain"]["snapshots"][step], "r-", lw=2, label="plain net")
        ax.plot(gx, runs["dropout"]["snapshots"][step], "b--", lw=2, label=f"dropout p={config.p}")
        ax.set_ylim(-2.5, 2.5)
        ax.set_title(f"seed {seed}, step {step}")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig


def _mse_figure(config: CurveFitConfig, curves: dict[str, list[list[tuple[int, float]]]]) -> Any:
    fig, ax = new_figure()
    for (kind, runs), color in zip(curves.items(), ("r", "b")):
        steps = [s for s, _ in runs[0]]
        for run in runs:
            ax.plot(steps, [v for _, v in run], color=color, alpha=0.2, lw=1)
        median = [statistics.median(run[i][1] for run in runs) for i in range(len(steps))]
        ax.plot(steps, median, color=color, lw=2, marker="o", markersize=3, label=f"{kind} (median of {len(runs)})")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("test MSE")
    ax.set_title(f"Test MSE, 1-{config.hidden}-{config.hidden}-1 nets, Adam lr {config.lr}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def _select_overrides(selection: Selection, config: CurveFitConfig) -> list[dict[str, Any]]:
    """curve-fit draws its validation points like the test set (``val_size`` extra points with
    fresh noise on the same grid of [-1, 1]) instead of carving them out of the 20 training points:
    ``val=F`` means ``val_size = round(F * n_samples)``; K-fold has no meaning there."""
    if selection.kind != "val":
        raise ConfigError(
            "curve-fit has no K-fold setting: its validation points are drawn separately (val_size); "
            "use --select val=F for round(F * n_samples) validation points"
        )
    n_val = round(float(selection.value) * config.n_samples)
    if n_val < 2:
        raise ConfigError(
            f"--select val={selection.value:g} gives round({selection.value:g} * {config.n_samples}) = {n_val} "
            "curve-fit validation point(s); it needs at least 2: use a larger fraction"
        )
    return [{"val_size": n_val}]


# A sweep trains one dropout net per trial (p = 0 is the plain net), one seed per trial.
SWEEP = SweepSpec(
    metric="loss",
    mode="min",
    base={"seeds": 1},
    log_knobs=("lr",),
    select_overrides=_select_overrides,
    val_how="round({value:g} * n_samples) extra validation points drawn like the test set",
)


@register(
    "curve-fit",
    summary="20-point curve fit: a 1-300-300-1 net with and without Dropout(0.5) (seed 001)",
    config_type=CurveFitConfig,
    quick={"steps": 40, "eval_every": 10, "hidden": 32, "seeds": 2},
    sweep=SWEEP,
    cannot_resume="it trains two nets per seed in its own full-batch loop, not one fit",
    diverge={"lr": 1e9},
)
def run_curve_fit(config: CurveFitConfig, ctx: RunContext) -> Result:
    """The notes' overfitting demo (seed 001). Twenty noisy points of the line y = x
    are fitted by two 1-300-300-1 ReLU nets that start from the same weights and
    see the same data: a plain one and one with dropout (drop probability p) after
    each hidden layer, both trained full-batch with Adam. The plain net bends to
    pass through the noise, while the dropout net stays close to the line, so the
    dropout net ends with the lower test MSE in most seeds. Runs seeds seed ...
    seed+seeds-1 and reports the count of dropout wins and both median test MSEs;
    writes fits.png (data and both fits at four checkpoints of the first seed),
    test_mse.png (test MSE against step) and metrics.csv (each net's test MSE every
    eval_every steps, a full-batch step being an epoch).
    """
    seed_everything(config.seed)
    grid = torch.linspace(-1.0, 1.0, 201, device=ctx.device).unsqueeze(1)
    eval_steps = sorted({*range(config.eval_every, config.steps + 1, config.eval_every), config.steps})
    picks = sorted({eval_steps[round(i * (len(eval_steps) - 1) / 3)] for i in range(4)})
    table = []
    curves: dict[str, list[list[tuple[int, float]]]] = {"plain": [], "dropout": []}
    per_seed = []
    for seed in range(config.seed, config.seed + config.seeds):
        data = make_curve_data(config, seed, ctx.device)
        snap = picks if seed == config.seed else ()
        runs = {
            kind: train_curve_net(
                config,
                p,
                seed,
                data,
                ctx.device,
                snapshot_steps=tuple(snap),
                grid=grid,
                callbacks=ctx.callbacks(tags={"seed": seed, "net": kind}),
            )
            for kind, p in (("plain", 0.0), ("dropout", config.p))
        }
        if seed == config.seed:
            ctx.save_figure("fits.png", _fit_figure(config, seed, data, grid, runs, picks))
        for kind in curves:
            curves[kind].append(runs[kind]["curve"])
        plain, drop = runs["plain"]["test_loss"], runs["dropout"]["test_loss"]
        per_seed.append(runs)
        table.append(
            {
                "seed": seed,
                "train_mse_plain": runs["plain"]["train_loss"],
                "train_mse_dropout": runs["dropout"]["train_loss"],
                "test_mse_plain": plain,
                "test_mse_dropout": drop,
                "winner": "dropout" if drop < plain else "plain",
            }
        )
        ctx.log(f"seed {seed}: test MSE plain {plain:.4f}, dropout {drop:.4f}")
    ctx.save_figure("test_mse.png", _mse_figure(config, curves))
    plain_mse = [row["test_mse_plain"] for row in table]
    drop_mse = [row["test_mse_dropout"] for row in table]
    summary: dict[str, Any] = {
        "seeds": config.seeds,
        "dropout_wins": sum(row["winner"] == "dropout" for row in table),
        "median_test_mse_plain": statistics.median(plain_mse),
        "median_test_mse_dropout": statistics.median(drop_mse),
        "test_mse_plain": plain_mse,
        "test_mse_dropout": drop_mse,
    }
    if config.seeds == 1:
        # Flat keys for sweeps over p: the dropout net's numbers, plus the baseline.
        runs = per_seed[0]
        summary.update({k: v for k, v in runs["dropout"].items() if k.endswith("_loss")})
        summary.update({k + "_plain": v for k, v in runs["plain"].items() if k.endswith("_loss")})
    return Result(summary=summary, table=table)
