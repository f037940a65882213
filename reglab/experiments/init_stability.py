"""Seed 003: numerical stability of a deep MLP at initialisation.

A deep MLP ``784 -> [Linear(width), act] * depth -> Linear(10)`` is
initialised three ways and run forward and backward once on one batch:

- ``normal``: weights ~ N(0, normal_std^2) (d2l's ``init_weights``, 0.01);
- ``xavier``: Glorot normal, Var(w) = 2 / (fan_in + fan_out) (the notes' derivation);
- ``he``: Kaiming normal for ReLU, Var(w) = 2 / fan_in.

Biases are zero so the signal is the weights' alone. For every hidden layer l
the experiment records the standard deviation of its output activation h_l
(shape ``(batch, width)``), of the loss gradient with respect to h_l (the next
layer's input), and of the gradient with respect to its weight W_l. The same
standard-normal draws (one generator seeded with ``seed``) are used for every
init, so the inits differ only in their scale.

Claims: with N(0, 0.01) the activations shrink geometrically (by a factor
about ``0.01 * sqrt(width)`` per layer, times 1/sqrt(2) for ReLU): > 100x over
the depth. Xavier with tanh and He with ReLU keep the activation std within
10x of the first layer's at every layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator
from torch import nn

from ..core.checks import check_choice, check_float, check_int, invalid_argument
from ..data import load_fashion_mnist
from ..engine.seeding import seed_everything
from ..runs.experiment import Result, RunContext, register, setting_help
from ..runs.figures import new_figure
from .common import SeedSettings, grad_of

__all__ = [
    "InitStabilityConfig",
    "INITS",
    "ACTIVATIONS",
    "deep_mlp",
    "init_deep_mlp_",
    "layer_stats",
    "stats_figure",
    "run_init_stability",
]

_ModuleT = TypeVar("_ModuleT", bound=nn.Module)

INITS = ("normal", "xavier", "he")
ACTIVATIONS = ("relu", "tanh")
_INPUTS = ("fashion", "gaussian")


def _check_names(name: str, value: Any, allowed: Sequence[str]) -> None:
    expected = f"a non-empty sequence of names from {', '.join(map(repr, allowed))}"
    if not isinstance(value, (tuple, list)) or not value or any(v not in allowed for v in value):
        raise invalid_argument(name, expected, value)


@dataclass(frozen=True)
class InitStabilityConfig(SeedSettings):
    depth: int = field(default=12, metadata=setting_help("number of hidden layers (Linear + activation)"))
    width: int = field(default=256, metadata=setting_help("units per hidden layer"))
    activations: tuple[str, ...] = field(default=ACTIVATIONS, metadata=setting_help("activations to try: relu, tanh"))
    inits: tuple[str, ...] = field(default=INITS, metadata=setting_help("initialisations: normal, xavier, he"))
    normal_std: float = field(default=0.01, metadata=setting_help("standard deviation of the 'normal' init"))
    inputs: str = field(
        default="fashion", metadata=setting_help("one batch of 'fashion' (Fashion-MNIST) or 'gaussian' inputs")
    )
    batch_size: int = field(default=256, metadata=setting_help("samples in the batch"))
    seed: int = field(default=3, metadata=setting_help("seeds the weights' draws and the batch"))

    def __post_init__(self) -> None:
        check_int("depth", self.depth, low=2)
        check_int("width", self.width, low=1)
        _check_names("activations", self.activations, ACTIVATIONS)
        _check_names("inits", self.inits, INITS)
        check_float("normal_std", self.normal_std, low=0.0, low_open=True)
        check_choice("inputs", self.inputs, _INPUTS)
        check_int("batch_size", self.batch_size, low=2)
        super().__post_init__()


def deep_mlp(depth: int, width: int, activation: str, *, inputs: int = 784, outputs: int = 10) -> nn.Sequential:
    """``[Linear, act] * depth, Linear``: the deep MLP whose layers are measured.

    Args:
        depth: hidden layers, each ``Linear`` then the activation.
        width: units per hidden layer.
        activation: ``"relu"`` or ``"tanh"``.
        inputs: input features.
        outputs: output classes.

    Returns:
        The network; input ``(N, inputs)``, output ``(N, outputs)``.
    """
    check_choice("activation", activation, ACTIVATIONS)
    act = nn.ReLU if activation == "relu" else nn.Tanh
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(inputs if i == 0 else width, width), act()]
    layers.append(nn.Linear(width, outputs))
    return nn.Sequential(*layers)


def init_deep_mlp_(
    model: _ModuleT, init: str, *, normal_std: float = 0.01, generator: torch.Generator | None = None
) -> _ModuleT:
    """Initialise every Linear's weight with ``init`` and its bias with zeros, in place.

    Args:
        model: the network.
        init: ``"normal"`` (N(0, normal_std^2)), ``"xavier"`` (Glorot normal) or
            ``"he"`` (Kaiming normal, fan_in, ReLU gain).
        normal_std: the standard deviation of ``"normal"``.
        generator: draws the weights (the global RNG when None).

    Returns:
        ``model``.
    """
    check_choice("init", init, INITS)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            if init == "normal":
                nn.init.normal_(m.weight, std=normal_std, generator=generator)
            elif init == "xavier":
                nn.init.xavier_normal_(m.weight, generator=generator)
            else:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=generator)
            nn.init.zeros_(m.bias)
    return model


def layer_stats(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor) -> list[dict[str, float]]:
    """One forward and backward pass; per hidden layer the std of h_l, dL/dh_l and dL/dW_l.

    Args:
        model: a :func:`deep_mlp`.
        x: inputs ``(N, features)``.
        y: integer class labels ``(N,)``.

    Returns:
        One dict per hidden layer: ``layer`` (1-based), ``act_std``,
        ``grad_std`` (gradient w.r.t. the layer's output) and ``weight_grad_std``.
    """
    model.zero_grad(set_to_none=True)
    outputs: list[torch.Tensor] = []
    linears: list[nn.Linear] = []
    *hidden, head = model
    h = x
    for module in hidden:
        h = module(h)
        if isinstance(module, nn.Linear):
            linears.append(module)
        else:
            h.retain_grad()
            outputs.append(h)
    loss = nn.functional.cross_entropy(head(h), y)
    loss.backward()
    rows = []
    for i, (h_l, lin) in enumerate(zip(outputs, linears), start=1):
        rows.append(
            {
                "layer": i,
                "act_std": h_l.detach().double().std().item(),
                "grad_std": grad_of(h_l, f"the output of hidden layer {i}").double().std().item(),
                "weight_grad_std": grad_of(lin.weight, f"the weight of hidden layer {i}").double().std().item(),
            }
        )
    return rows


def _batch(config: InitStabilityConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(config.seed)
    if config.inputs == "gaussian":
        x = torch.randn(config.batch_size, 784, generator=g)
        y = torch.randint(0, 10, (config.batch_size,), generator=g)
        return x.to(device), y.to(device)
    X, y = load_fashion_mnist().split("train", flatten=True)
    index = torch.randperm(X.shape[0], generator=g)[: config.batch_size]
    return X[index].to(device), y[index].to(device)


def _spread(values: Sequence[float]) -> float:
    """Largest |log10(v / v_first)| over the layers: 1.0 means a 10x departure."""
    first = values[0]
    if first <= 0 or any(v <= 0 for v in values):
        return math.inf
    return max(abs(math.log10(v / first)) for v in values)


_PANELS = (
    ("act_std", "activation std"),
    ("grad_std", "std of dL/dh (layer output)"),
    ("weight_grad_std", "std of dL/dW"),
)


def stats_figure(stats: dict[tuple[str, str], list[dict[str, float]]], *, title: str) -> Figure:
    """Per-layer stds on a log scale: one row per statistic, one column per activation,
    one line per init."""
    activations = list(dict.fromkeys(act for act, _ in stats))
    fig, axes = new_figure(5.0, 3.6, ncols=len(activations), nrows=len(_PANELS))
    axes = [
        [axes[r][c] if len(activations) > 1 else axes[r] for c in range(len(activations))] for r in range(len(_PANELS))
    ]
    for c, act in enumerate(activations):
        for r, (key, label) in enumerate(_PANELS):
            ax = axes[r][c]
            for (a, init), rows in stats.items():
                if a == act:
                    values = [max(row[key], 1e-300) for row in rows]
                    ax.plot([row["layer"] for row in rows], values, marker="o", markersize=3, label=init)
            ax.set_yscale("log")
            ax.yaxis.set_minor_locator(NullLocator())  # minor log ticks make drawing several times slower
            ax.set_title(f"{label}, {act}")
            ax.set_xlabel("hidden layer")
            ax.set_ylabel(label)
            ax.grid(True, alpha=0.3)
            ax.legend()
    fig.suptitle(title)
    fig.subplots_adjust(hspace=0.45, wspace=0.3, top=0.93)
    return fig


@register(
    "init-stability",
    summary="deep MLP at initialisation: per-layer activation/gradient stds for N(0,0.01), Xavier, He (seed 003)",
    config_type=InitStabilityConfig,
    quick={"depth": 4, "width": 32, "batch_size": 64},
    cannot_resume="it does not train: it measures networks at initialisation",
    epoch_based=False,  # statistics of one forward and backward pass at initialisation: no training
)
def run_init_stability(config: InitStabilityConfig, ctx: RunContext) -> Result:
    """Numerical stability at initialisation (seed 003, d2l's Xavier derivation): a deep
    MLP (`depth` hidden layers of `width` units, ReLU and/or tanh) is initialised with
    N(0, normal_std^2), Xavier (Glorot normal) and He (Kaiming normal), and one batch
    of Fashion-MNIST (or Gaussian inputs) goes forward and backward. Per hidden layer
    it records the std of the activations, of the loss gradient with respect to them
    and of the weight gradient. The claim: N(0, 0.01) makes the signal vanish
    geometrically with depth (> 100x), while Xavier (tanh) and He (ReLU) keep
    activations within an order of magnitude of the first layer's. Writes layers.csv
    and stds.png (log scale, one line per init)."""
    seed_everything(config.seed)
    x, y = _batch(config, ctx.device)
    stats: dict[tuple[str, str], list[dict[str, float]]] = {}
    csv_rows: list[dict[str, Any]] = []
    table: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"depth": config.depth, "width": config.width, "inputs": config.inputs}
    for act in config.activations:
        for init in config.inits:
            # The same generator seed for every init: identical draws, only the scale differs.
            g = torch.Generator().manual_seed(config.seed)
            model = init_deep_mlp_(
                deep_mlp(config.depth, config.width, act), init, normal_std=config.normal_std, generator=g
            ).to(ctx.device)
            rows = layer_stats(model, x, y)
            stats[(act, init)] = rows
            csv_rows += [{"activation": act, "init": init, **row} for row in rows]
            acts = [row["act_std"] for row in rows]
            grads = [row["grad_std"] for row in rows]
            key = f"{act}_{init}"
            summary[key] = {
                "act_std_first": acts[0],
                "act_std_last": acts[-1],
                "act_shrink": acts[0] / acts[-1],
                "act_spread_log10": _spread(acts),
                "grad_std_first": grads[0],
                "grad_std_last": grads[-1],
                "grad_spread_log10": _spread(grads),
            }
            table.append(
                {
                    "activation": act,
                    "init": init,
                    "act_std_l1": f"{acts[0]:.3g}",
                    f"act_std_l{config.depth}": f"{acts[-1]:.3g}",
                    "shrink": f"{acts[0] / acts[-1]:.3g}",
                    "grad_std_l1": f"{grads[0]:.3g}",
                    f"grad_std_l{config.depth}": f"{grads[-1]:.3g}",
                }
            )
    ctx.write_csv("layers.csv", csv_rows)
    if ctx.run_dir is not None:  # drawing log axes costs seconds; sweeps run without a folder
        ctx.save_figure(
            "stds.png",
            stats_figure(
                stats,
                title=f"{config.depth}-layer MLP of width {config.width} at initialisation ({config.inputs} batch)",
            ),
        )
    return Result(summary=summary, table=table)
