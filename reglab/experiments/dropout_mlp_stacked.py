"""The dropout MLP (``reglab run dropout``) trained for V variants at once.

Variant v has its own lr, p1, p2, init_std and seed. Weights are stacked as
``W (V, in, out)`` and biases as ``b (V, out)``; a layer is one
``torch.baddbmm(b[:, None], x, W)`` for inputs ``x (V, B, in)``. What a solo
run does, each variant does identically:

- initialisation: the experiment's own ``build_model`` after
  ``seed_everything(seed)`` (so the default generator advances exactly as in
  the solo run), its parameters then stacked;
- masks: ``keep_mask`` from a per-variant generator holding the state the
  solo run's default generator has after building the model (the CUDA default
  generator, freshly seeded, on a GPU), drawn in the same order (layer 1,
  then layer 2, every batch; nothing drawn for p = 0 or 1);
- data: the same training subset, validation split and per-epoch permutation
  (a ``torch.Generator`` seeded with the seed), gathered per variant from one
  copy of the data set: ``X[index]`` with ``index (V, B)``;
- SGD ``w -= lr * grad`` per variant; the loss of the stack is the sum of the
  variants' mean losses, so each variant's gradient is its own.

Metrics are summed as :func:`reglab.fit` sums them (float64, sample-weighted
batch means) and a variant whose training loss turns non-finite is reported
as diverged while the others go on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import torch
from torch.nn import functional as F

from ..core.errors import ConfigError
from ..data import load_fashion_mnist
from ..data.batches import random_split_indices
from ..engine.seeding import seed_everything
from ..regularizers.masks import keep_mask
from ..runs.sweep_spec import VariantOutcome
from .common import EVAL_BATCH
from .dropout_mlp import DropoutMLPConfig, build_model

__all__ = ["DropoutMLPVectorized", "fashion_indices"]

_SHARED = ("hidden1", "hidden2", "batch_size", "epochs", "train_subset", "val_fraction", "kfold", "fold")


def fashion_indices(config: DropoutMLPConfig, n_train: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Indices into the full training set of the run's training and validation samples,
    in the order :func:`reglab.experiments.common.fashion_batches` puts them."""
    idx = torch.arange(n_train)
    g = torch.Generator().manual_seed(config.seed)
    if 0 < config.train_subset < n_train:
        idx, _ = random_split_indices(n_train, config.train_subset, generator=g)
    train, val = config.validation_split(len(idx))
    return idx[train], (idx[val] if val is not None else None)


class _Stack:
    """Stacked parameters of V MLPs: W[i] (V, in, out) and b[i] (V, out), leaf tensors."""

    def __init__(self, configs: Sequence[DropoutMLPConfig], device: torch.device) -> None:
        weights: list[list[torch.Tensor]] = [[], [], []]
        biases: list[list[torch.Tensor]] = [[], [], []]
        self.generators: list[torch.Generator] = []
        for config in configs:
            seed_everything(config.seed)
            linears = [m for m in build_model(config, scratch=False).modules() if isinstance(m, torch.nn.Linear)]
            for i, lin in enumerate(linears):
                weights[i].append(lin.weight.detach().t())
                biases[i].append(lin.bias.detach())
            if device.type == "cpu":
                g = torch.Generator()
                g.set_state(torch.get_rng_state())
            else:  # the solo run's masks come from the device's default generator, seeded by seed_everything
                g = torch.Generator(device=device).manual_seed(config.seed)
            self.generators.append(g)
        self.W = [torch.stack(w).to(device).requires_grad_() for w in weights]
        self.b = [torch.stack(b).to(device).requires_grad_() for b in biases]
        self.p = [[c.p1 for c in configs], [c.p2 for c in configs]]
        self.device = device

    def params(self) -> list[torch.Tensor]:
        return [*self.W, *self.b]

    def _dropout(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        # h (V, B, H): one mask per variant from its own generator, as Dropout draws it.
        factors = []
        for v, p in enumerate(self.p[layer]):
            if p == 0.0:
                factors.append(torch.ones(h.shape[1:], dtype=h.dtype, device=h.device))
            elif p == 1.0:
                factors.append(torch.zeros(h.shape[1:], dtype=h.dtype, device=h.device))
            else:
                mask = keep_mask(h.shape[1:], p, device=h.device, generator=self.generators[v])
                factors.append(mask.to(h.dtype).mul_(1.0 / (1.0 - p)))
        return h * torch.stack(factors)

    def forward(self, x: torch.Tensor, *, train: bool) -> torch.Tensor:
        """Logits (V, B, 10) for inputs x (V, B, 784) or a shared batch x (B, 784)."""
        h = x
        for i in range(2):
            h = torch.relu(
                torch.baddbmm(self.b[i][:, None, :], h, self.W[i])
                if h.dim() == 3
                else torch.matmul(h, self.W[i]) + self.b[i][:, None, :]
            )
            if train:
                h = self._dropout(h, i)
        return torch.baddbmm(self.b[2][:, None, :], h, self.W[2])


def _loss_and_correct(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-variant mean cross-entropy (V,) and correct counts (V,) for logits (V, B, C), y (V, B) or (B,)."""
    V, B, C = logits.shape
    y = y.expand(V, B)
    loss = F.cross_entropy(logits.reshape(V * B, C), y.reshape(-1), reduction="none").view(V, B).mean(1)
    correct = (logits.detach().argmax(-1) == y).sum(1)
    return loss, correct


class DropoutMLPVectorized:
    """:class:`~reglab.runs.sweep_spec.VectorizedTrainer` of the ``dropout`` experiment."""

    def group_key(self, config: DropoutMLPConfig) -> Hashable:
        return tuple(getattr(config, k) for k in _SHARED)

    def architecture_key(self, config: DropoutMLPConfig) -> Hashable:
        return (config.hidden1, config.hidden2)

    def train(self, configs: Sequence[DropoutMLPConfig], device: torch.device) -> list[VariantOutcome]:
        return self.train_stack(configs, device)[0]

    def train_stack(
        self, configs: Sequence[DropoutMLPConfig], device: torch.device
    ) -> tuple[list[VariantOutcome], Any]:
        """:meth:`train`, also returning the trained stack (``W[i]`` (V, in, out), ``b[i]`` (V, out))."""
        first = configs[0]
        V = len(configs)
        data = load_fashion_mnist()
        X, y = data.split("train", flatten=True, device=device)
        Xt, yt = data.split("test", flatten=True, device=device)
        splits = [fashion_indices(c, X.shape[0]) for c in configs]
        train_ids = torch.stack([t for t, _ in splits]).to(device)  # (V, N)
        # The variants share the split (_SHARED): all have a validation set or none.
        val_parts = [v for _, v in splits if v is not None]
        if val_parts and len(val_parts) != V:
            raise ConfigError("the variants of one dropout stack must share " + ", ".join(_SHARED))
        val_ids = torch.stack(val_parts).to(device) if val_parts else None  # (V, N_val)
        orders = [torch.Generator().manual_seed(c.seed) for c in configs]
        stack = _Stack(configs, device)
        lr = torch.tensor([c.lr for c in configs], dtype=X.dtype, device=device)
        live = torch.ones(V, dtype=X.dtype, device=device)
        N = train_ids.shape[1]
        acc_dtype = torch.float64
        rows: list[list[dict[str, float]]] = [[] for _ in configs]
        errors = [""] * V
        for epoch in range(1, first.epochs + 1):
            start = time.perf_counter()
            perm = torch.stack([torch.randperm(N, generator=g) for g in orders]).to(device)
            order = torch.gather(train_ids, 1, perm)  # (V, N): sample ids in each variant's order
            loss_sum = torch.zeros(V, dtype=acc_dtype, device=device)
            correct_sum = torch.zeros(V, dtype=acc_dtype, device=device)
            for s in range(0, N, first.batch_size):
                index = order[:, s : s + first.batch_size]  # (V, B)
                loss, correct = _loss_and_correct(stack.forward(X[index], train=True), y[index])
                grads = torch.autograd.grad(loss.sum(), stack.params())
                with torch.no_grad():
                    for p, g in zip(stack.params(), grads):
                        p.sub_(g * (lr * live).view(-1, *[1] * (g.dim() - 1)))
                loss_sum += loss.detach().to(acc_dtype) * index.shape[1]
                correct_sum += correct.to(acc_dtype)
            train_loss, train_acc = (loss_sum / N).tolist(), (correct_sum / N).tolist()
            evals = {}
            with torch.no_grad():
                if val_ids is not None:
                    evals["val"] = self._evaluate(
                        stack, lambda a, b: (X[val_ids[:, a:b]], y[val_ids[:, a:b]]), val_ids.shape[1]
                    )
                evals["test"] = self._evaluate(stack, lambda a, b: (Xt[a:b], yt[a:b]), Xt.shape[0])
            seconds = (time.perf_counter() - start) / V
            for v in range(V):
                if errors[v]:
                    continue
                if not math.isfinite(train_loss[v]):
                    errors[v] = (
                        f"DivergenceError: training diverged in epoch {epoch}: the mean training loss is "
                        f"{train_loss[v]}"
                    )
                    live[v] = 0.0
                    continue
                row = {"epoch": epoch, "train_loss": train_loss[v], "train_acc": train_acc[v]}
                for name, (losses, accs) in evals.items():
                    row[f"{name}_loss"], row[f"{name}_acc"] = losses[v], accs[v]
                row["seconds"] = seconds
                rows[v].append(row)
        out = []
        for v in range(V):
            summary = {k: x for k, x in rows[v][-1].items() if k not in ("epoch", "seconds")} if rows[v] else {}
            summary["epochs"] = len(rows[v])
            summary["train_seconds"] = sum(r["seconds"] for r in rows[v])
            status = "diverged" if errors[v] else "complete"
            out.append(VariantOutcome(summary=summary if not errors[v] else {}, status=status, error=errors[v]))
        return out, stack

    @staticmethod
    def _evaluate(
        stack: _Stack, batch: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]], n: int
    ) -> tuple[list[float], list[float]]:
        loss_sum: torch.Tensor | None = None
        correct_sum: torch.Tensor | None = None
        for a in range(0, n, EVAL_BATCH):
            xb, yb = batch(a, min(a + EVAL_BATCH, n))
            loss, correct = _loss_and_correct(stack.forward(xb, train=False), yb)
            part_loss, part_correct = loss.to(torch.float64) * yb.shape[-1], correct.to(torch.float64)
            loss_sum = part_loss if loss_sum is None else loss_sum + part_loss
            correct_sum = part_correct if correct_sum is None else correct_sum + part_correct
        if loss_sum is None or correct_sum is None:  # n == 0: a split keeps at least one sample on each side
            raise ValueError(f"no samples to evaluate (n = {n})")
        return (loss_sum / n).tolist(), (correct_sum / n).tolist()
