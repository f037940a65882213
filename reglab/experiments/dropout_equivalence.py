"""Seed 001 (cs231n): vanilla versus inverted dropout, and the seeds' defective normal-draw masks.

Convention: ``p`` is the DROP probability (cs231n's notes use the keep
probability). A one-hidden-layer MLP ``Flatten, Linear(784, hidden), ReLU,
dropout(p), Linear(hidden, 10)`` on a Fashion-MNIST subset, in two forms:

- inverted (:class:`reglab.Dropout`): train ``h = m * a / (1 - p)``, eval ``h = a``;
- vanilla (:class:`reglab.VanillaDropout`): train ``h = m * a``, eval ``h = (1 - p) * a``.

Three checks:

(a) **Equal expected activations.** For fixed inputs, the mean over many
masks of the train-mode output equals the eval-mode output: ``(1 - p) * a``
for vanilla, ``a`` for inverted, both at the dropout layer and at the logits
(linear in the dropout output). Reported as the largest z-score
``|mean - eval| / standard error`` (binomial at the layer, CLT at the logits).

(b) **Equivalent training.** With the same masks (the same generator state),
the vanilla net equals the inverted one when its next layer's weight is the
inverted one's divided by ``1 - p``: ``W' (m * a) = W (m * a / (1 - p))``. The
gradient of ``W'`` is ``(1 - p)`` times that of ``W``, so ``W' = W / (1 - p)``
is kept by giving ``W'`` the learning rate ``lr / (1 - p)^2``; every other
gradient (first layer, biases, the hidden activations) is the same. So the
"vanilla (matched)" net starts from the inverted net's weights with
``W2 / (1 - p)`` and trains with that learning rate on ``W2``: its test
outputs equal the inverted net's to float rounding (bit for bit at
``p = 0.5``, where every factor is a power of two). A "vanilla (same lr)" net
started from the same weights with one learning rate shows what differs
without the adjustment (its output layer sees activations ``1 - p`` times smaller).

(c) **Defective masks.** Seeds 000 and 003 build the mask as
``torch.randn(shape) > p``: a *normal* draw keeps ``P(Z > p) = 1 - Phi(p)``
(0.31 at p = 0.5, 0.42 at p = 0.2) instead of ``1 - p``, while survivors are
still scaled by ``1 / (1 - p)``: the activations' mean is multiplied by
``(1 - Phi(p)) / (1 - p)`` instead of 1. Measured on many mask elements and on
the trained net's hidden activations, for a range of ``p``.

Random streams: data subset and batch order from ``seed`` (as in the other
Fashion-MNIST experiments), initial weights from ``stream_seed(seed, 1)``,
dropout masks from ``stream_seed(seed, 3)`` (a generator on the run's device,
re-seeded identically for every net; the probe masks of (a) continue them),
the mask draws of (c) from ``stream_seed(seed, 4)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..core.checks import check_float, check_int, check_probability, invalid_argument
from ..data import BatchIterator
from ..engine.loop import evaluate, fit
from ..engine.seeding import stream_seed
from ..regularizers.inverted_dropout import Dropout
from ..regularizers.masks import keep_mask
from ..regularizers.noninverted_dropout import VanillaDropout
from ..runs.experiment import Result, RunContext, register, setting_help
from ..runs.figures import new_figure
from .common import (
    EVAL_BATCH,
    FashionTrainingSettings,
    SplitSettings,
    begin_fashion_run,
    check_test_subset,
    epoch_summary,
    setting_batch_size,
    setting_fold,
    setting_kfold,
    setting_test_subset,
    setting_train_subset,
    setting_val_fraction,
)

__all__ = [
    "DropoutEquivalenceConfig",
    "mlp",
    "normal_keep_rate",
    "normal_draw_mask",
    "expected_activation_z",
    "keep_rate_table",
]

INIT_STREAM, MASK_STREAM, PROBE_STREAM = 1, 3, 4


@dataclass(frozen=True)
class DropoutEquivalenceConfig(FashionTrainingSettings, SplitSettings):
    p: float = field(default=0.5, metadata=setting_help("drop probability of the hidden layer (cs231n's 0.5)"))
    hidden: int = field(default=256, metadata=setting_help("hidden units"))
    lr: float = field(
        default=0.1, metadata=setting_help("SGD learning rate (inverted net; vanilla matched: W2 gets lr/(1-p)^2)")
    )
    batch_size: int = setting_batch_size(64)
    epochs: int = field(default=5, metadata=setting_help("training epochs"))
    init_std: float = field(default=0.01, metadata=setting_help("weights ~ N(0, std^2), biases 0"))
    train_subset: int = setting_train_subset(10000)
    test_subset: int = setting_test_subset()
    mask_samples: int = field(default=2000, metadata=setting_help("(a): masks averaged per probe input"))
    probes: int = field(default=8, metadata=setting_help("(a): probe inputs (test images)"))
    table_ps: tuple[float, ...] = field(
        default=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
        metadata=setting_help("(c): drop probabilities of the keep-rate table"),
    )
    mask_elements: int = field(default=1_000_000, metadata=setting_help("(c): mask elements drawn per p"))
    seed: int = field(default=0, metadata=setting_help("data subset and batch order; init, masks via stream seeds"))
    val_fraction: float = setting_val_fraction()
    kfold: int = setting_kfold()
    fold: int = setting_fold()

    def __post_init__(self) -> None:
        check_probability("p", self.p, allow_one=False)
        check_int("hidden", self.hidden, low=1)
        check_float("init_std", self.init_std, low=0.0)
        check_test_subset(self.test_subset)
        check_int("mask_samples", self.mask_samples, low=2)
        check_int("probes", self.probes, low=1)
        if not isinstance(self.table_ps, tuple) or not self.table_ps:
            raise invalid_argument("table_ps", "a non-empty tuple of floats in [0, 1)", self.table_ps)
        for p in self.table_ps:
            check_probability("table_ps", p, allow_one=False)
        check_int("mask_elements", self.mask_elements, low=1)
        super().__post_init__()


def mlp(hidden: int, dropout: nn.Module, *, init_std: float, seed: int) -> nn.Sequential:
    """``Flatten, Linear(784, hidden), ReLU, dropout, Linear(hidden, 10)``.

    Weights ~ N(0, init_std^2) from a CPU generator seeded with ``stream_seed(seed, 1)``
    (first layer, then second), biases 0: independent of the global RNG.
    """
    first, second = nn.Linear(784, hidden), nn.Linear(hidden, 10)
    model = nn.Sequential(nn.Flatten(), first, nn.ReLU(), dropout, second)
    g = torch.Generator().manual_seed(stream_seed(seed, INIT_STREAM))
    with torch.no_grad():
        for layer in (first, second):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * init_std)
            layer.bias.zero_()
    return model


def _output_layer(model: nn.Sequential) -> nn.Linear:
    """The last Linear, ``model[4]``, of an :func:`mlp`."""
    layer = model[4]
    if not isinstance(layer, nn.Linear):
        raise TypeError(f"expected the Linear output layer of mlp() at index 4, found {type(layer).__name__}")
    return layer


def normal_keep_rate(p: float) -> float:
    """``P(Z > p) = 1 - Phi(p)`` for a standard normal Z: the seeds' defective keep rate."""
    return 0.5 * math.erfc(p / math.sqrt(2.0))


def normal_draw_mask(
    shape: tuple[int, ...], p: float, *, device: torch.device, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The seeds' DEFECTIVE mask ``randn(shape) > p`` (keeps ``1 - Phi(p)``, not ``1 - p``). For
    demonstration only; :func:`reglab.keep_mask` is the correct one."""
    return torch.randn(shape, device=device, generator=generator) > p


def expected_activation_z(
    train_outputs: torch.Tensor, eval_output: torch.Tensor, std: torch.Tensor | None = None
) -> float:
    """The largest ``|mean - eval| / SE`` over elements.

    Args:
        train_outputs: ``(N, *S)``: N train-mode outputs of the same input(s).
        eval_output: ``(*S)``: the eval-mode output.
        std: ``(*S)`` per-element standard deviation of one train-mode output
            (e.g. binomial); None estimates it from the samples (CLT).

    Returns:
        The max z-score over the elements whose standard error is positive.
    """
    n = train_outputs.shape[0]
    x = train_outputs.double()
    mean = x.mean(0)
    sd = x.std(0) if std is None else std.double()
    se = sd / math.sqrt(n)
    live = se > 0
    if not bool((mean[~live] == eval_output.double()[~live]).all()):
        return math.inf
    return ((mean - eval_output.double()).abs()[live] / se[live]).max().item() if live.any() else 0.0


def keep_rate_table(ps: tuple[float, ...], n: int, activations: torch.Tensor, seed: int) -> list[dict[str, float]]:
    """(c): measured and exact keep rates of uniform and normal-draw masks, and the
    resulting ratio ``mean(mask * a / (1 - p)) / mean(a)`` on ``activations``."""
    device = activations.device
    g = torch.Generator(device=device).manual_seed(stream_seed(seed, PROBE_STREAM))
    rows = []
    for p in ps:
        uniform = keep_mask((n,), p, device=device, generator=g).double().mean().item()
        normal = normal_draw_mask((n,), p, device=device, generator=g).double().mean().item()
        a = activations.double()
        m_u = keep_mask(activations.shape, p, device=device, generator=g)
        m_n = normal_draw_mask(tuple(activations.shape), p, device=device, generator=g)
        rows.append(
            {
                "p": p,
                "keep_uniform": uniform,
                "keep_exact": 1.0 - p,
                "keep_normal": normal,
                "keep_normal_exact": normal_keep_rate(p),
                "se": math.sqrt(max(p * (1 - p), normal_keep_rate(p) * (1 - normal_keep_rate(p))) / n),
                "mean_ratio_uniform": ((a * m_u).sum() / (1 - p) / a.sum()).item(),
                "mean_ratio_normal": ((a * m_n).sum() / (1 - p) / a.sum()).item(),
                "mean_ratio_normal_exact": normal_keep_rate(p) / (1 - p),
            }
        )
    return rows


def _train(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Any,
    config: DropoutEquivalenceConfig,
    ctx: RunContext,
    callbacks: list[Any],
) -> list[dict[str, float]]:
    train = BatchIterator(*batches.train.tensors, batch_size=config.batch_size, seed=config.seed)
    history = fit(
        model,
        train,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=optimizer,
        epochs=config.epochs,
        eval_sets=batches.eval_sets,
        device=ctx.device,
        callbacks=callbacks,
        progress=ctx.show_progress,
    )
    return history.rows


@torch.no_grad()
def _outputs(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    model.eval()
    return torch.cat([model(chunk) for chunk in X.split(EVAL_BATCH)])


def _agreement(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    x, y = a.double().flatten(), b.double().flatten()
    return {
        "max_abs_logit_diff": (x - y).abs().max().item(),
        "argmax_agreement": (a.argmax(1) == b.argmax(1)).double().mean().item(),
        "logit_correlation": torch.corrcoef(torch.stack([x, y]))[0, 1].item(),
    }


def _probe(model: nn.Sequential, X: torch.Tensor, p: float, samples: int, vanilla: bool) -> dict[str, float]:
    """(a) for one net: z-scores at the dropout layer (binomial SE) and at the logits (CLT)."""
    upto = model[:4]
    model.eval()
    with torch.no_grad():
        eval_h, eval_out = upto(X), model(X)
        a = model[:3](X)
        model.train()
        reps = X.unsqueeze(0).expand(samples, *X.shape).reshape(-1, *X.shape[1:])
        h = upto(reps).view(samples, *eval_h.shape)
        out = model[4](h.view(-1, h.shape[-1])).view(samples, *eval_out.shape)
    model.eval()
    scale = 1.0 if vanilla else 1.0 / (1.0 - p)
    std_h = a.double() * scale * math.sqrt(p * (1 - p))  # one output is a * scale * Bernoulli(1 - p)
    return {"z_hidden": expected_activation_z(h, eval_h, std_h), "z_logits": expected_activation_z(out, eval_out)}


def _scatter_figure(test_out: dict[str, torch.Tensor], config: DropoutEquivalenceConfig) -> Any:
    fig, ax = new_figure(5.2, 4.6)
    x = test_out["inverted"][:500].flatten().cpu()
    for name, marker, color in (("vanilla (same lr)", "x", "C1"), ("vanilla (matched)", "o", "C0")):
        ax.scatter(x, test_out[name][:500].flatten().cpu(), s=6, marker=marker, color=color, alpha=0.6, label=name)
    lo, hi = x.min().item(), x.max().item()
    ax.plot([lo, hi], [lo, hi], "k--", linewidth=1, label="y = x")
    ax.set_xlabel("inverted-dropout net: test logit")
    ax.set_ylabel("vanilla-dropout net: test logit")
    ax.set_title(f"Test logits after training, p = {config.p:g} (500 images)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def _keep_rate_figure(rows: list[dict[str, float]]) -> Any:
    fig, (left, right) = new_figure(5.0, 4.0, ncols=2)
    grid = [i / 100 for i in range(100)]
    ps = [r["p"] for r in rows]
    left.plot(grid, [1 - p for p in grid], "C0-", label="exact 1 - p (uniform draw)")
    left.plot(grid, [normal_keep_rate(p) for p in grid], "C3-", label="exact 1 - Phi(p) (randn > p)")
    left.plot(ps, [r["keep_uniform"] for r in rows], "C0o", label="measured, keep_mask")
    left.plot(ps, [r["keep_normal"] for r in rows], "C3s", label="measured, randn > p")
    left.set_xlabel("drop probability p")
    left.set_ylabel("fraction of elements kept")
    left.set_title("Keep rate: uniform vs normal draw")
    right.axhline(1.0, color="C0", label="unbiased (uniform draw)")
    right.plot(grid, [normal_keep_rate(p) / (1 - p) for p in grid], "C3-", label="exact (1 - Phi(p)) / (1 - p)")
    right.plot(ps, [r["mean_ratio_uniform"] for r in rows], "C0o", label="measured, keep_mask")
    right.plot(ps, [r["mean_ratio_normal"] for r in rows], "C3s", label="measured, randn > p")
    right.set_xlabel("drop probability p")
    right.set_ylabel("mean(dropout(a)) / mean(a)")
    right.set_title("Bias of the activations' mean")
    right.set_ylim(0.0, max(2.5, 1.2 * max(r["mean_ratio_normal"] for r in rows)))
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


@register(
    "dropout-equivalence",
    summary="vanilla vs inverted dropout: same expectations, equivalent training; the seeds' randn masks (seed 001)",
    config_type=DropoutEquivalenceConfig,
    quick={
        "epochs": 1,
        "train_subset": 1024,
        "test_subset": 512,
        "mask_samples": 200,
        "probes": 2,
        "table_ps": (0.2, 0.5),
        "mask_elements": 10000,
    },
    cannot_resume="it trains several networks, each in its own fit",
    diverge={"lr": 1e9},
)
def run_dropout_equivalence(config: DropoutEquivalenceConfig, ctx: RunContext) -> Result:
    """Vanilla dropout (cs231n: keep with probability 1-p unscaled, multiply by
    1-p at test time) and inverted dropout (scale survivors by 1/(1-p), identity
    at test time) on a 784-hidden-10 MLP on a Fashion-MNIST subset. (a) For fixed
    inputs, the mean over many masks of each form's train-mode output equals its
    eval-mode output (within a few standard errors). (b) Trained from the same
    weights with the same batches and the same masks, the vanilla net whose
    output weights are the inverted net's divided by 1-p, with learning rate
    lr/(1-p)^2 on them, follows the inverted net exactly: test logits equal to
    float rounding and identical predictions; with one learning rate for all
    layers the two differ. (c) The seeds' defective mask randn(shape) > p keeps
    1-Phi(p) of the elements (0.31 at p=0.5) instead of 1-p, so the activations'
    mean is scaled by (1-Phi(p))/(1-p) (0.62 at p=0.5) instead of staying
    unbiased. Writes equivalence.png (test logits of the vanilla nets against the
    inverted one), keep_rate.png (keep rate and mean bias against p, measured and
    exact), keep_rate.csv, metrics.csv (every net's epochs, by net) and a table.
    """
    p, device = config.p, ctx.device
    batches = begin_fashion_run(config, device, test_subset=config.test_subset)

    def masks() -> torch.Generator:
        return torch.Generator(device=device).manual_seed(stream_seed(config.seed, MASK_STREAM))

    nets = {
        "inverted": mlp(config.hidden, Dropout(p, generator=masks()), init_std=config.init_std, seed=config.seed),
        "vanilla (matched)": mlp(
            config.hidden, VanillaDropout(p, generator=masks()), init_std=config.init_std, seed=config.seed
        ),
        "vanilla (same lr)": mlp(
            config.hidden, VanillaDropout(p, generator=masks()), init_std=config.init_std, seed=config.seed
        ),
    }
    with torch.no_grad():
        _output_layer(nets["vanilla (matched)"]).weight.div_(1.0 - p)
    rows: dict[str, list[dict[str, float]]] = {}
    for name, net in nets.items():
        net.to(device)
        if name == "vanilla (matched)":
            w2 = _output_layer(net).weight
            rest = [q for q in net.parameters() if q is not w2]
            groups: list[dict[str, Any]] = [{"params": rest}, {"params": [w2], "lr": config.lr / (1.0 - p) ** 2}]
            optimizer = torch.optim.SGD(groups, lr=config.lr)
        else:
            optimizer = torch.optim.SGD(net.parameters(), lr=config.lr)
        rows[name] = _train(net, optimizer, batches, config, ctx, ctx.callbacks(tags={"net": name}))

    Xt = batches.test.tensors[0]
    test_out = {name: _outputs(net, Xt) for name, net in nets.items()}
    loss_fn = nn.CrossEntropyLoss()
    table = []
    for name, net in nets.items():
        row: dict[str, Any] = {"net": name, **evaluate(net, batches.test, loss_fn, device=device, prefix="test")}
        row.update(_agreement(test_out["inverted"], test_out[name]))
        if name != "vanilla (same lr)":
            row.update(_probe(net, Xt[: config.probes], p, config.mask_samples, vanilla=name != "inverted"))
        table.append(row)
    w2_matched, w2_inverted = _output_layer(nets["vanilla (matched)"]).weight, _output_layer(nets["inverted"]).weight
    w2_gap = (w2_matched * (1 - p) - w2_inverted).abs().max().item()

    inverted = nets["inverted"]
    with torch.no_grad():
        hidden = inverted[:3](Xt[: min(1000, Xt.shape[0])])
    keep_rows = keep_rate_table(config.table_ps, config.mask_elements, hidden, config.seed)
    ctx.write_csv("keep_rate.csv", keep_rows)
    ctx.save_figure("equivalence.png", _scatter_figure(test_out, config))
    ctx.save_figure("keep_rate.png", _keep_rate_figure(keep_rows))
    for r in keep_rows:
        ctx.log(
            f"p {r['p']:.2f}: keep uniform {r['keep_uniform']:.4f} (1-p {r['keep_exact']:.4f}), randn>p "
            f"{r['keep_normal']:.4f} (1-Phi(p) {r['keep_normal_exact']:.4f}), mean ratio {r['mean_ratio_normal']:.3f}"
        )

    summary: dict[str, Any] = epoch_summary(rows["inverted"])
    matched, naive = table[1], table[2]
    summary.update(
        {
            "p": p,
            "max_abs_logit_diff_matched": matched["max_abs_logit_diff"],
            "argmax_agreement_matched": matched["argmax_agreement"],
            "argmax_agreement_same_lr": naive["argmax_agreement"],
            "logit_correlation_same_lr": naive["logit_correlation"],
            "max_abs_w2_gap_matched": w2_gap,
            "test_acc_vanilla_matched": matched["test_acc"],
            "test_acc_vanilla_same_lr": naive["test_acc"],
            "z_hidden_inverted": table[0]["z_hidden"],
            "z_logits_inverted": table[0]["z_logits"],
            "z_hidden_vanilla": matched["z_hidden"],
            "z_logits_vanilla": matched["z_logits"],
            "keep_rate": keep_rows,
        }
    )
    return Result(summary=summary, rows=rows["inverted"], table=table, model=inverted)
