"""MC dropout uncertainty: predictive entropy on test images versus off-distribution inputs.

Gal and Ghahramani, 2016, "Dropout as a Bayesian Approximation". d2l's dropout
MLP (784-256-256-10, ReLU, ``reglab.Dropout`` with drop probabilities 0.2 and
0.5 — p is the DROP probability — weights ~ N(0, 0.01^2), SGD lr 0.5, batch
256) is trained briefly on Fashion-MNIST. Then :func:`reglab.mc_predict` keeps
dropout on at prediction time and averages ``samples`` softmax outputs; the
entropy of that average (:func:`reglab.predictive_entropy`, in nats, at most
log 10 = 2.30) is the uncertainty. It is compared on four input sets of the
same size ``(N, 1, 28, 28)`` in [0, 1]:

- ``test``: the Fashion-MNIST test images (in distribution);
- ``noise``: Gaussian noise images, N(m, s^2) per pixel clipped to [0, 1],
  with m and s the training pixels' mean and standard deviation;
- ``inverted``: ``1 - x`` of the test images (white background);
- ``shuffled``: the test images with their pixels permuted by one fixed random
  permutation (same pixel histogram, no spatial structure).

For each off-distribution set: the mean entropy and its ratio to the test
set's, the fraction of inputs above the test set's 95th entropy percentile,
and the AUROC of entropy as an out-of-distribution score (:func:`auroc`).

Random streams of ``seed`` (:func:`reglab.engine.seeding.stream_seed`): the
subset and batch order come from ``seed``, the initial weights from stream 1,
the dropout masks (training and MC) from stream 2 (a generator on the run's
device), the noise images and the pixel permutation from stream 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..core.checks import check_float, check_int, check_probability
from ..engine.seeding import make_generator, stream_seed
from ..regularizers.inverted_dropout import Dropout
from ..regularizers.mc_prediction import mc_predict, predictive_entropy
from ..runs.experiment import Result, RunContext, register, setting_help
from ..runs.figures import new_figure
from .common import (
    EVAL_BATCH,
    FashionTrainingSettings,
    SplitSettings,
    begin_fashion_run,
    check_test_subset,
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

__all__ = ["MCDropoutConfig", "auroc", "ood_sets"]

_INIT_STREAM, _MASK_STREAM, _OOD_STREAM = 1, 2, 3
OOD_SETS = ("noise", "inverted", "shuffled")


@dataclass(frozen=True)
class MCDropoutConfig(FashionTrainingSettings, SplitSettings):
    hidden1: int = field(default=256, metadata=setting_help("units in the first hidden layer"))
    hidden2: int = field(default=256, metadata=setting_help("units in the second hidden layer"))
    p1: float = field(default=0.2, metadata=setting_help("drop probability after the first hidden layer"))
    p2: float = field(default=0.5, metadata=setting_help("drop probability after the second hidden layer"))
    lr: float = field(default=0.5, metadata=setting_help("SGD learning rate"))
    batch_size: int = setting_batch_size(256)
    epochs: int = field(default=5, metadata=setting_help("training epochs (brief training is enough)"))
    init_std: float = field(default=0.01, metadata=setting_help("standard deviation of the N(0, std^2) weights"))
    train_subset: int = setting_train_subset()
    test_subset: int = field(
        default=0, metadata=setting_help("random test images used, and size of each OOD set (0: all 10000)")
    )
    samples: int = field(default=30, metadata=setting_help("MC dropout forward passes per input"))
    seed: int = field(default=0, metadata=setting_help("seeds the data order, weights, masks and OOD inputs"))
    val_fraction: float = setting_val_fraction()
    kfold: int = setting_kfold()
    fold: int = setting_fold()

    def __post_init__(self) -> None:
        check_int("hidden1", self.hidden1, low=1)
        check_int("hidden2", self.hidden2, low=1)
        check_probability("p1", self.p1, allow_one=False)
        check_probability("p2", self.p2, allow_one=False)
        check_float("init_std", self.init_std, low=0.0, low_open=True)
        check_test_subset(self.test_subset)
        check_int("samples", self.samples, low=2)
        super().__post_init__()


def auroc(scores_in: torch.Tensor, scores_out: torch.Tensor) -> float:
    """Area under the ROC curve of ``scores`` as a detector of the "out" set.

    The probability that a random "out" score exceeds a random "in" score, ties
    counting one half (the Mann-Whitney U statistic over ``n_in * n_out``),
    computed from average ranks in float64.

    Args:
        scores_in: ``(n_in,)`` scores of in-distribution inputs.
        scores_out: ``(n_out,)`` scores of out-of-distribution inputs.

    Returns:
        A float in [0, 1]; 0.5 means no separation, 1 perfect separation.
    """
    scores = torch.cat([scores_in.reshape(-1), scores_out.reshape(-1)]).double().cpu()
    n_in, n_out = scores_in.numel(), scores_out.numel()
    inverse: torch.Tensor  # torch.unique's stub returns Any (it dispatches on return_inverse/return_counts)
    counts: torch.Tensor
    _values, inverse, counts = torch.unique(scores, return_inverse=True, return_counts=True)
    # Average 1-based rank of each distinct value: its last rank minus (count - 1) / 2.
    average_rank = counts.cumsum(0).double() - (counts.double() - 1.0) / 2.0
    rank_sum_out = average_rank[inverse[n_in:]].sum().item()
    return (rank_sum_out - n_out * (n_out + 1) / 2.0) / (n_in * n_out)


def ood_sets(
    x_test: torch.Tensor, pixel_mean: float, pixel_std: float, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """The off-distribution inputs built from ``x_test`` ``(N, 1, 28, 28)`` (or ``(N, 784)``).

    Args:
        x_test: test images in [0, 1].
        pixel_mean: mean of the Gaussian noise pixels.
        pixel_std: their standard deviation (before clipping to [0, 1]).
        generator: a CPU generator for the noise and the permutation.

    Returns:
        ``{"noise", "inverted", "shuffled"}`` tensors shaped like ``x_test``, on its device.
    """
    flat = x_test.reshape(len(x_test), -1)
    noise = torch.randn(flat.shape, generator=generator, dtype=torch.float64) * pixel_std + pixel_mean
    perm = torch.randperm(flat.shape[1], generator=generator).to(x_test.device)
    return {
        "noise": noise.clamp_(0.0, 1.0).to(x_test.dtype).to(x_test.device).reshape(x_test.shape),
        "inverted": 1.0 - x_test,
        "shuffled": flat[:, perm].reshape(x_test.shape),
    }


def _entropy_figure(entropies: dict[str, torch.Tensor], threshold: float, title: str) -> Any:
    fig, ax = new_figure(7.0, 4.5)
    top = max(float(e.max()) for e in entropies.values())
    bins = torch.linspace(0.0, max(top, 1e-6) * 1.001, 41).tolist()
    for name, values in entropies.items():
        label = "test (in distribution)" if name == "test" else name
        ax.hist(values.cpu().numpy(), bins=bins, histtype="step", linewidth=1.5, label=label)
    ax.axvline(threshold, color="black", linestyle=":", label=f"95th percentile of test ({threshold:.3f})")
    ax.set_xlabel("predictive entropy of the MC mean (nats)")
    ax.set_ylabel("inputs")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    return fig


@register(
    "mc-dropout",
    summary="MC-dropout predictive entropy: Fashion-MNIST test images vs noise, inverted and shuffled inputs",
    config_type=MCDropoutConfig,
    quick={"epochs": 1, "train_subset": 2048, "test_subset": 256, "samples": 4},
    diverge={"lr": 1e9},
)
def run_mc_dropout(config: MCDropoutConfig, ctx: RunContext) -> Result:
    """MC dropout as an uncertainty estimate (Gal and Ghahramani, 2016): d2l's
    dropout MLP (784-256-256-10, drop probabilities 0.2 and 0.5) is trained
    briefly on Fashion-MNIST, then predicts with dropout left on: the entropy of
    the average of `samples` softmax outputs measures its uncertainty. On
    Gaussian noise images and on test images with shuffled pixels the mean
    entropy is clearly higher than on the test images, and entropy separates them (AUROC of entropy as an OOD
    score, fraction above the test set's 95th percentile). Inverted images
    (1 - x) are the known failure: the network is as confident on them as on real images,
    so they are not flagged (the measured AUROCs: docs/experiments.md). Also reports the MC
    accuracy (argmax of the averaged probabilities) next to the usual eval-mode
    accuracy on the test set: they agree closely. Writes metrics.csv,
    entropy_hist.png (entropy histograms per input set), entropy.csv and model.pt.
    """
    batches = begin_fashion_run(config, ctx.device, test_subset=config.test_subset)
    masks = make_generator(stream_seed(config.seed, _MASK_STREAM), ctx.device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seed(config.seed, _INIT_STREAM))
        model = dropout_mlp(
            (784, config.hidden1, config.hidden2, 10), (config.p1, config.p2), lambda p: Dropout(p, generator=masks)
        )
        init_normal_(model, config.init_std)
    model.to(ctx.device)
    history = train_fashion(config, ctx, model, batches, torch.optim.SGD(model.parameters(), lr=config.lr))
    x_train = batches.train.tensors[0]
    x_test, y_test = batches.test.tensors
    inputs = {"test": x_test} | ood_sets(
        x_test,
        x_train.mean().item(),
        x_train.std().item(),
        torch.Generator().manual_seed(stream_seed(config.seed, _OOD_STREAM)),
    )
    entropies: dict[str, torch.Tensor] = {}
    for name, x in inputs.items():
        pred = mc_predict(model, x, config.samples, batch_size=EVAL_BATCH, transform=lambda z: z.softmax(-1))
        entropies[name] = predictive_entropy(pred.samples).double().cpu()
        if name == "test":
            mc_acc = (pred.mean.argmax(-1) == y_test).double().mean().item()
    test_entropy = entropies["test"]
    threshold = torch.quantile(test_entropy, 0.95).item()
    summary = epoch_summary(history.rows)
    summary |= {"eval_test_acc": summary["test_acc"], "mc_test_acc": mc_acc, "entropy_p95_test": threshold}
    table = []
    for name, values in entropies.items():
        mean = values.mean().item()
        row = {
            "inputs": name,
            "mean_entropy": mean,
            "ratio_to_test": mean / test_entropy.mean().item(),
            "above_test_p95": (values > threshold).double().mean().item(),
            "auroc": auroc(test_entropy, values),
        }
        table.append(row)
        summary |= {f"entropy_{name}": mean}
        if name != "test":
            summary |= {
                f"ratio_{name}": row["ratio_to_test"],
                f"above_p95_{name}": row["above_test_p95"],
                f"auroc_{name}": row["auroc"],
            }
    ctx.write_csv("entropy.csv", table)
    title = (
        f"MC dropout ({config.samples} passes), 784-{config.hidden1}-{config.hidden2}-10, "
        f"p=({config.p1}, {config.p2}), {config.epochs} epochs"
    )
    ctx.save_figure("entropy_hist.png", _entropy_figure(entropies, threshold, title))
    ctx.log(f"test accuracy: eval mode {summary['eval_test_acc']:.4f}, MC dropout {mc_acc:.4f}")
    return Result(summary=summary, rows=history.rows, table=table, model=model)
