"""The ``weight-decay`` experiment (seed 004) trained for V lambdas at once.

Each variant is one single-lambda run of the experiment's ``optimizer``
version (``lambdas=(lam,), versions=("optimizer",), seeds=1``, what the sweep's
``lambda`` knob sets) with its own ``lam``, ``lr`` and ``seed``. The V linear
models are stacked as ``w (V, d, 1)`` and ``b (V, 1)``; a minibatch of all
variants is ``X (V, B, d)`` and the forward pass one
``torch.baddbmm(b, X, w)``. What a solo run does, each variant does:

- data: the experiment's own :func:`make_regression_problem` for the
  variant's seed (drawn once per distinct seed, gathered per variant);
- initial weights: :func:`init_params` of the seed;
- batch order: :func:`batch_orders` of the seed, batches consecutive slices;
- the step: the gradient of ``mean(squared_loss)`` written out by hand
  (no autograd: ``g = r / B`` with residuals ``r``, ``grad_w = X^T g``,
  ``grad_b = sum(g)``), then ``torch.optim.SGD``'s arithmetic with weight decay
  on ``w`` only: ``grad_w + lam * w``, then ``w - lr * grad``.

So the final ``train_loss``, ``test_loss``, ``val_loss`` (with a split) and
``w_norm`` equal the solo run's to float32 rounding
(``tests/sweeps/backends/test_vectorized_regression.py`` checks 1e-5 relative).
Variants share ``num_inputs``, ``n_train``, ``n_test``, ``batch_size``,
``epochs`` and the split (:meth:`WeightDecayVectorized.group_key`); a variant
whose losses turn non-finite is reported as diverged, as the trial path does.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import torch

from ..core.errors import ConfigError
from ..runs.sweep_spec import VariantOutcome
from .weight_decay import Problem, WeightDecayConfig, batch_orders, init_params, make_regression_problem

__all__ = ["WeightDecayVectorized"]

_SHARED = ("num_inputs", "n_train", "n_test", "batch_size", "epochs", "val_fraction", "kfold", "fold")
_DATA = ("n_train", "n_test", "num_inputs", "true_w", "true_b", "noise", "val_fraction", "kfold", "fold")


def _check_single_run(config: WeightDecayConfig) -> None:
    """One variant is one run: a single lambda, the optimizer version, one seed."""
    if len(config.lambdas) != 1 or config.versions != ("optimizer",) or config.seeds != 1:
        raise ConfigError(
            "the vectorized weight-decay trainer needs one run per trial (lambdas=(L,), "
            f"versions=('optimizer',), seeds=1); received lambdas={config.lambdas}, "
            f"versions={config.versions}, seeds={config.seeds}: sweep the `lambda` knob or use --backend local"
        )


def _mean_loss(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> list[float]:
    """Per-variant mean of ``squared_loss`` for X (V, n, d), y (V, n, 1) or shared X (n, d), y (n, 1)."""
    if X.dim() == 2:
        X, y = X.expand(w.shape[0], *X.shape), y.expand(w.shape[0], *y.shape)
    y_hat = torch.baddbmm(b[:, None, :], X, w)
    return ((y_hat - y) ** 2 / 2).mean(dim=(1, 2)).tolist()


class WeightDecayVectorized:
    """:class:`~reglab.runs.sweep_spec.VectorizedTrainer` of the ``weight-decay`` experiment."""

    def group_key(self, config: WeightDecayConfig) -> Hashable:
        return tuple(getattr(config, k) for k in _SHARED)

    def architecture_key(self, config: WeightDecayConfig) -> Hashable:
        _check_single_run(config)  # raising here makes ``auto`` fall back to the local backend
        return (config.num_inputs,)

    def train(self, configs: Sequence[WeightDecayConfig], device: torch.device) -> list[VariantOutcome]:
        return self.train_stack(configs, device)[0]

    def train_stack(
        self, configs: Sequence[WeightDecayConfig], device: torch.device
    ) -> tuple[list[VariantOutcome], tuple[torch.Tensor, torch.Tensor]]:
        """:meth:`train`, also returning the trained ``w (V, d, 1)`` and ``b (V, 1)``."""
        for config in configs:
            _check_single_run(config)
        if len({self.group_key(c) for c in configs}) != 1:
            raise ConfigError("the variants of one weight-decay stack must share " + ", ".join(_SHARED))
        first = configs[0]
        problems: dict[tuple[tuple[Any, ...], int], Problem] = {}
        for c in configs:
            key = (tuple(getattr(c, k) for k in _DATA), c.seed)
            if key not in problems:
                problems[key] = make_regression_problem(c, c.seed, device)
        data = [problems[(tuple(getattr(c, k) for k in _DATA), c.seed)] for c in configs]
        X = torch.stack([d[0] for d in data])  # (V, n, d)
        y = torch.stack([d[1] for d in data])  # (V, n, 1)
        Xt = torch.stack([d[2] for d in data])
        yt = torch.stack([d[3] for d in data])
        # The variants share the split (group_key, checked above): all have a validation set or none.
        val_sets = [(d[4], d[5]) for d in data if d[4] is not None and d[5] is not None]
        val = (torch.stack([v[0] for v in val_sets]), torch.stack([v[1] for v in val_sets])) if val_sets else None

        inits = [init_params(c.num_inputs, c.seed, device) for c in configs]
        w = torch.stack([iw.detach() for iw, _ in inits])  # (V, d, 1)
        b = torch.stack([ib.detach() for _, ib in inits])  # (V, 1)
        V, n = X.shape[0], X.shape[1]
        lam = torch.tensor([c.lambdas[0] for c in configs], dtype=w.dtype, device=device).view(V, 1, 1)
        neg_lr = torch.tensor([-c.lr for c in configs], dtype=w.dtype, device=device)
        neg_lr_w, neg_lr_b = neg_lr.view(V, 1, 1), neg_lr.view(V, 1)
        orders = torch.stack([batch_orders(n, first.epochs, c.seed) for c in configs]).to(device)  # (V, E, n)
        rows = torch.arange(V, device=device)[:, None]
        with torch.no_grad():
            for epoch in range(first.epochs):
                order = orders[:, epoch]  # (V, n)
                Xe, ye = X[rows, order], y[rows, order]  # each variant's samples in its own order
                for s in range(0, n, first.batch_size):
                    Xb, yb = Xe[:, s : s + first.batch_size], ye[:, s : s + first.batch_size]
                    # d mean((Xw + b - y)^2 / 2) = r / B, as autograd's MeanBackward scales it.
                    g = (torch.baddbmm(b[:, None, :], Xb, w) - yb).mul_(1.0 / Xb.shape[1])
                    grad_w = torch.bmm(Xb.transpose(1, 2), g).addcmul_(lam, w)  # SGD: grad.add(w, alpha=lam)
                    grad_b = g.sum(dim=1)
                    w.addcmul_(grad_w, neg_lr_w)  # SGD: w.add_(grad, alpha=-lr)
                    b.addcmul_(grad_b, neg_lr_b)
            losses = {"train_loss": _mean_loss(X, y, w, b), "test_loss": _mean_loss(Xt, yt, w, b)}
            if val is not None:
                losses["val_loss"] = _mean_loss(*val, w, b)
            w_norm = torch.linalg.vector_norm(w, dim=(1, 2)).tolist()
        out = []
        for v, config in enumerate(configs):
            summary: dict[str, Any] = {
                "lambda": config.lambdas[0],
                "version": "optimizer",
                "seed": config.seed,
                **{k: vals[v] for k, vals in losses.items()},
                "w_norm": w_norm[v],
            }
            bad = [k for k, x in summary.items() if k.endswith("_loss") and not math.isfinite(x)]
            status, error = ("diverged", f"non-finite {', '.join(bad)}") if bad else ("complete", "")
            out.append(VariantOutcome(summary=summary, status=status, error=error))
        return out, (w, b)
