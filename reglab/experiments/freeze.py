"""Seed 004: freezing with ``requires_grad_(False)`` versus ``torch.no_grad()`` inference.

Two different tools the notes contrast:

- Freezing: a sub-module's parameters get ``requires_grad_(False)`` and the
  optimizer is built only from the parameters that still require gradients.
  Autograd then computes no gradient for them (their ``.grad`` stays None) and
  nothing updates them: after training they are bit-identical to before, while
  every trainable parameter has changed.
- ``torch.no_grad()``: a context in which no graph is recorded, so no tensor is
  saved for a backward pass. It changes no ``requires_grad`` flag and freezes
  nothing; it is for inference.

The model is ``Flatten, Linear(784, h), ReLU, Linear(h, h), ReLU, Linear(h, 10)``;
``freeze`` picks the first or the last Linear. Inference on a test batch
``(batch, 784)`` is then measured in three modes: grad mode with every
parameter trainable, grad mode with the frozen layer, and ``no_grad``. Memory is
the bytes of the tensors autograd saves for backward (counted with
``torch.autograd.graph.saved_tensors_hooks``: deterministic, any device; each
storage counted once), split into parameters and activations; on CUDA also the
peak allocated memory. Time is the median over repeated forward passes.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import nn

from ..core.checks import check_choice, check_int
from ..runs.experiment import Result, RunContext, register, setting_help
from ..runs.figures import new_figure, training_curves_figure
from .common import (
    FashionTrainingSettings,
    begin_fashion_run,
    check_test_subset,
    init_default_,
    setting_batch_size,
    setting_test_subset,
    setting_train_subset,
    train_fashion,
)

__all__ = ["FreezeConfig", "freeze_mlp", "saved_tensor_bytes", "time_forward", "inference_figure", "run_freeze"]

_FREEZE = ("first", "last")


@dataclass(frozen=True)
class FreezeConfig(FashionTrainingSettings):
    hidden: int = field(default=256, metadata=setting_help("units in each of the two hidden layers"))
    freeze: str = field(default="first", metadata=setting_help("which Linear to freeze: 'first' or 'last'"))
    lr: float = field(default=0.1, metadata=setting_help("SGD learning rate"))
    batch_size: int = setting_batch_size(256)
    epochs: int = field(default=3, metadata=setting_help("training epochs"))
    train_subset: int = setting_train_subset(10000)
    test_subset: int = setting_test_subset()
    infer_batch: int = field(default=1024, metadata=setting_help("samples in the inference batch that is measured"))
    repeats: int = field(default=20, metadata=setting_help("timed forward passes per mode (the median is reported)"))
    seed: int = field(default=4, metadata=setting_help("seeds the weights and the batch order"))

    def __post_init__(self) -> None:
        check_int("hidden", self.hidden, low=1)
        check_choice("freeze", self.freeze, _FREEZE)
        check_test_subset(self.test_subset)
        check_int("infer_batch", self.infer_batch, low=1)
        check_int("repeats", self.repeats, low=1)
        super().__post_init__()


def freeze_mlp(hidden: int) -> nn.Sequential:
    """``Flatten, Linear(784, h), ReLU, Linear(h, h), ReLU, Linear(h, 10)``; input ``(N, 1, 28, 28)``
    or ``(N, 784)``, output ``(N, 10)``."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10)
    )


def saved_tensor_bytes(
    fn: Callable[[], torch.Tensor], params: Sequence[torch.Tensor]
) -> tuple[torch.Tensor, dict[str, int]]:
    """Run ``fn()`` and count what autograd saves for backward.

    Args:
        fn: the computation, e.g. ``lambda: model(x)``.
        params: the model's parameters, to tell saved weights from saved activations.

    Returns:
        ``(output, counts)`` with ``counts`` = ``saved_tensors`` (pack calls),
        ``saved_bytes`` (each tensor once, by data pointer), ``param_bytes`` and ``activation_bytes``.
    """
    param_ptrs = {p.data_ptr() for p in params}
    seen: dict[int, int] = {}
    calls = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        seen.setdefault(t.data_ptr(), t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    param_bytes = sum(n for ptr, n in seen.items() if ptr in param_ptrs)
    total = sum(seen.values())
    return out, {
        "saved_tensors": calls,
        "saved_bytes": total,
        "param_bytes": param_bytes,
        "activation_bytes": total - param_bytes,
    }


def time_forward(fn: Callable[[], Any], repeats: int, device: torch.device) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs (after one warm-up), synchronising CUDA."""
    sync: Callable[[], None] = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _peak_bytes(fn: Callable[[], Any], device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    out = fn()
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - base
    del out
    return int(peak)


def inference_figure(rows: list[dict[str, Any]], *, title: str) -> Figure:
    """Bars per inference mode: saved bytes for backward (MiB) and median time per batch (ms)."""
    fig, (ax_mem, ax_time) = new_figure(5.0, 4.0, ncols=2)
    modes = [r["mode"] for r in rows]
    xs = list(range(len(rows)))
    act = [r["activation_bytes"] / 2**20 for r in rows]
    par = [r["param_bytes"] / 2**20 for r in rows]
    ax_mem.bar(xs, act, 0.6, label="saved activations")
    ax_mem.bar(xs, par, 0.6, bottom=act, label="saved parameters")
    ax_mem.set_title("memory saved for backward")
    ax_mem.set_ylabel("MiB")
    ax_time.bar(xs, [r["ms_per_batch"] for r in rows], 0.6, color="tab:green", label="median forward time")
    ax_time.set_title("time per inference batch")
    ax_time.set_ylabel("ms per batch")
    for ax in (ax_mem, ax_time):
        ax.set_xticks(xs)
        ax.set_xticklabels(modes, rotation=15)
        ax.set_xlabel("inference mode")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return fig


@register(
    "freeze",
    summary="requires_grad_(False) freezing during training vs torch.no_grad() inference: memory and time (seed 004)",
    config_type=FreezeConfig,
    quick={"hidden": 32, "epochs": 1, "train_subset": 1024, "test_subset": 512, "infer_batch": 128, "repeats": 2},
    diverge={"lr": 1e20},
)
def run_freeze(config: FreezeConfig, ctx: RunContext) -> Result:
    """Freezing versus no_grad (seed 004). A small MLP is trained on a Fashion-MNIST
    subset with one Linear (`freeze`: first or last) frozen by requires_grad_(False)
    and the optimizer built from the trainable parameters only: the frozen weights
    come out bit-identical, every other parameter has changed. Then inference on a
    test batch is measured in grad mode (all trainable), grad mode (with the frozen
    layer) and under torch.no_grad(): no_grad saves nothing for backward and gives
    exactly the same outputs; grad mode keeps the activations (and weights) alive
    for a backward pass that never comes. Writes metrics.csv, curves.png,
    inference.csv and inference.png."""
    batches = begin_fashion_run(config, ctx.device, test_subset=config.test_subset)
    model = init_default_(freeze_mlp(config.hidden), torch.Generator().manual_seed(config.seed)).to(ctx.device)
    frozen = model[1] if config.freeze == "first" else model[5]
    frozen.requires_grad_(False)
    frozen_before = {n: p.detach().clone() for n, p in frozen.named_parameters()}
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    trainable_before = {n: p.detach().clone() for n, p in trainable.items()}
    history = train_fashion(config, ctx, model, batches, torch.optim.SGD(list(trainable.values()), lr=config.lr))
    frozen_unchanged = all(torch.equal(p, frozen_before[n]) for n, p in frozen.named_parameters())
    frozen_grads_none = all(p.grad is None for p in frozen.parameters())
    changed = {n: not torch.equal(p.detach(), trainable_before[n]) for n, p in trainable.items()}

    # Inference: one test batch, eval mode, three modes.
    model.eval()
    x = batches.test.tensors[0][: config.infer_batch].contiguous()
    params = list(model.parameters())
    rows: list[dict[str, Any]] = []
    outputs: dict[str, torch.Tensor] = {}

    def measure(mode: str, all_trainable: bool, no_grad: bool) -> None:
        frozen.requires_grad_(all_trainable)
        context = torch.no_grad if no_grad else torch.enable_grad
        with context():
            out, counts = saved_tensor_bytes(lambda: model(x), params)
            seconds = time_forward(lambda: model(x), config.repeats, ctx.device)
            peak = _peak_bytes(lambda: model(x), ctx.device)
        outputs[mode] = out.detach()
        rows.append(
            {
                "mode": mode,
                **counts,
                "ms_per_batch": 1000 * seconds,
                "peak_bytes": peak,
                "requires_grad_output": out.requires_grad,
            }
        )

    measure("grad, all trainable", True, False)
    measure("grad, frozen layer", False, False)
    measure("no_grad", True, True)
    frozen.requires_grad_(False)
    reference = outputs["no_grad"]
    outputs_equal = all(torch.equal(o, reference) for o in outputs.values())

    ctx.write_csv("inference.csv", rows)
    if ctx.run_dir is not None:
        ctx.save_figure(
            "curves.png",
            training_curves_figure(
                history.rows, title=f"784-{config.hidden}-{config.hidden}-10 MLP, {config.freeze} Linear frozen"
            ),
        )
        ctx.save_figure(
            "inference.png", inference_figure(rows, title=f"inference on {x.shape[0]} samples ({ctx.device.type})")
        )
    by_mode = {r["mode"]: r for r in rows}
    grad, nograd = by_mode["grad, all trainable"], by_mode["no_grad"]
    last = history.rows[-1]
    summary: dict[str, Any] = {k: v for k, v in last.items() if k not in ("epoch", "seconds")}
    summary.update(
        {
            "epochs": len(history.rows),
            "frozen": config.freeze,
            "frozen_unchanged": frozen_unchanged,
            "frozen_grads_none": frozen_grads_none,
            "trainable_all_changed": all(changed.values()),
            "outputs_equal": outputs_equal,
            "inference": rows,
            "saved_bytes_grad": grad["saved_bytes"],
            "saved_bytes_no_grad": nograd["saved_bytes"],
            "speedup_no_grad": grad["ms_per_batch"] / nograd["ms_per_batch"] if nograd["ms_per_batch"] > 0 else None,
        }
    )
    table = [
        {
            "mode": r["mode"],
            "saved_tensors": r["saved_tensors"],
            "saved_KiB": r["saved_bytes"] // 1024,
            "activation_KiB": r["activation_bytes"] // 1024,
            "ms_per_batch": round(r["ms_per_batch"], 3),
            "peak_KiB": "" if r["peak_bytes"] is None else r["peak_bytes"] // 1024,
        }
        for r in rows
    ]
    ctx.log(
        f"frozen {config.freeze} Linear unchanged: {frozen_unchanged}; "
        f"every trainable parameter changed: {all(changed.values())}; outputs equal: {outputs_equal}"
    )
    return Result(summary=summary, rows=history.rows, table=table, model=model)
