"""Validation splits carved from the training data: a held-out fraction or K folds.

Model selection must never look at the test set. Every sweepable experiment
takes the same three settings and hands them to :func:`validation_split`:

- ``val_fraction`` in [0, 1): hold out this fraction of the training samples;
- ``kfold`` >= 2 with ``fold`` in [0, kfold): K-fold cross-validation (d2l's
  ``k_fold``), fold ``fold`` is the validation set. Folds differ in size by at
  most one sample and together cover every training sample exactly once
  (d2l drops the remainder; reglab does not).

The samples are first permuted with a fixed ``split_seed`` (not the training
seed), so every configuration and every training seed of a sweep sees the same
split, and the comparison between them is fair.
"""

from __future__ import annotations

import torch

from ..core.checks import check_float, check_int, invalid_argument

__all__ = ["check_split_settings", "check_split_sizes", "validation_split"]


def check_split_settings(val_fraction: float, kfold: int, fold: int) -> None:
    """Validate the three split settings (the one argument-error sentence)."""
    check_float("val_fraction", val_fraction, low=0.0, high=1.0, high_open=True)
    kfold = check_int("kfold", kfold, low=0)
    if kfold == 1:
        raise invalid_argument("kfold", "0 (no folds) or an integer >= 2", kfold)
    if kfold:
        check_int("fold", fold, low=0, high=kfold - 1)
        if val_fraction:
            raise invalid_argument("val_fraction", "0 when kfold is set (use one or the other)", val_fraction)
    else:
        check_int("fold", fold, low=0, high=0)


def check_split_sizes(n: int, *, val_fraction: float = 0.0, kfold: int = 0) -> None:
    """Refuse a split of ``n`` samples that leaves no sample on one side (the one argument sentence);
    :func:`validation_split` would make exactly these sizes. Cheap: nothing is drawn."""
    if kfold and n < kfold:
        raise invalid_argument("kfold", f"at most the number of training samples ({n})", kfold)
    if val_fraction and not kfold and not 0 < round(n * val_fraction) < n:
        raise invalid_argument(
            "val_fraction", f"a fraction leaving at least one sample on each side of {n}", val_fraction
        )


def validation_split(
    n: int, *, val_fraction: float = 0.0, kfold: int = 0, fold: int = 0, split_seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Indices ``(train, val)`` of ``n`` training samples; ``val`` is None when
    neither ``val_fraction`` nor ``kfold`` is set (then ``train`` is ``arange(n)``).

    Both index tensors are sorted, so the training data keeps its order.
    """
    n = check_int("n", n, low=0)
    check_split_settings(val_fraction, kfold, fold)
    if not val_fraction and not kfold:
        return torch.arange(n), None
    check_split_sizes(n, val_fraction=val_fraction, kfold=kfold)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    if kfold:
        folds = torch.tensor_split(perm, kfold)
        val = folds[fold]
        train = torch.cat([f for i, f in enumerate(folds) if i != fold])
    else:
        n_val = round(n * val_fraction)
        val, train = perm[:n_val], perm[n_val:]
    return train.sort().values, val.sort().values
