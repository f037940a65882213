"""Pieces shared by the Fashion-MNIST experiments: data as device tensors, the
d2l MLP, and the standard summary."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..data import BatchIterator, load_fashion_mnist
from ..data.batches import random_split_indices
from ..data.splits import validation_split

__all__ = ["FashionBatches", "fashion_batches", "init_normal_", "dropout_mlp", "epoch_summary", "EVAL_BATCH"]

EVAL_BATCH = 2048  # evaluation batch size: any value gives the same numbers


class FashionBatches:
    """Training, optional validation, and test batches of Fashion-MNIST, on the device."""

    def __init__(self, train: BatchIterator, val: BatchIterator | None, test: BatchIterator) -> None:
        self.train, self.val, self.test = train, val, test

    @property
    def eval_sets(self) -> dict[str, BatchIterator]:
        """``{"val": ..., "test": ...}`` for :func:`reglab.fit` (no "val" without a split)."""
        return ({"val": self.val} if self.val is not None else {}) | {"test": self.test}


def fashion_batches(
    device: torch.device,
    *,
    batch_size: int,
    seed: int,
    flatten: bool = True,
    train_subset: int = 0,
    test_subset: int = 0,
    val_fraction: float = 0.0,
    kfold: int = 0,
    fold: int = 0,
) -> FashionBatches:
    """Fashion-MNIST as float32 [0, 1] tensors on ``device``, in batches.

    ``train_subset``/``test_subset`` > 0 keep that many samples, chosen at
    random with ``seed``. The validation split (``val_fraction`` or
    ``kfold``/``fold``, see :func:`reglab.data.validation_split`) is then carved
    from the training samples. The training order is shuffled with ``seed``,
    independently of the global RNG.
    """
    data = load_fashion_mnist()
    X, y = data.split("train", flatten=flatten, device=device)
    Xt, yt = data.split("test", flatten=flatten, device=device)
    g = torch.Generator().manual_seed(seed)
    if 0 < train_subset < X.shape[0]:
        keep, _ = random_split_indices(X.shape[0], train_subset, generator=g)
        X, y = X[keep.to(device)], y[keep.to(device)]
    if 0 < test_subset < Xt.shape[0]:
        keep, _ = random_split_indices(Xt.shape[0], test_subset, generator=g)
        Xt, yt = Xt[keep.to(device)], yt[keep.to(device)]
    train_idx, val_idx = validation_split(X.shape[0], val_fraction=val_fraction, kfold=kfold, fold=fold)
    val = None
    if val_idx is not None:
        val_idx, train_idx = val_idx.to(device), train_idx.to(device)
        val = BatchIterator(X[val_idx], y[val_idx], batch_size=EVAL_BATCH, shuffle=False)
        X, y = X[train_idx], y[train_idx]
    train = BatchIterator(X, y, batch_size=batch_size, shuffle=True, seed=seed)
    test = BatchIterator(Xt, yt, batch_size=EVAL_BATCH, shuffle=False)
    return FashionBatches(train, val, test)


def init_normal_(model: nn.Module, std: float) -> nn.Module:
    """d2l's ``init_weights``: Linear weights ~ N(0, std^2); biases keep
    PyTorch's default (uniform in +-1/sqrt(fan_in)), as in d2l."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=std)
    return model


def dropout_mlp(
    sizes: Sequence[int],
    drop_probs: Sequence[float],
    make_dropout: Callable[[float], nn.Module],
) -> nn.Sequential:
    """``Flatten, [Linear, ReLU, Dropout(p)] * hidden, Linear``: d2l's dropout MLP.

    ``sizes`` = (inputs, hidden..., outputs); one drop probability per hidden layer.
    """
    if len(drop_probs) != len(sizes) - 2:
        raise ValueError("one drop probability per hidden layer")
    layers: list[nn.Module] = [nn.Flatten()]
    for fan_in, fan_out, p in zip(sizes[:-2], sizes[1:-1], drop_probs):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU(), make_dropout(p)]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


def epoch_summary(rows: Sequence[dict[str, float]]) -> dict[str, Any]:
    """Final numbers of an epoch-based run: the last row's metrics and the epoch count."""
    last = dict(rows[-1]) if rows else {}
    out: dict[str, Any] = {k: v for k, v in last.items() if k not in ("epoch", "seconds")}
    out["epochs"] = len(rows)
    out["train_seconds"] = sum(row["seconds"] for row in rows)
    return out
