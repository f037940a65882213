"""d2l's from-scratch linear regression pieces: model, loss and minibatch SGD.

Shapes: ``X`` ``(N, d)``, ``w`` ``(d, 1)``, ``b`` ``(1,)``, predictions and
labels ``(N, 1)``. ``squared_loss`` returns one value per sample (no mean):
callers sum it and ``sgd`` divides the gradient by the batch size.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..core.checks import check_float, check_int, invalid_argument

__all__ = ["linreg", "squared_loss", "sgd"]


def linreg(X: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The linear model ``X @ w + b``."""
    return torch.matmul(X, w) + b


def squared_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample ``(y_hat - y)^2 / 2``, with ``y`` reshaped to ``y_hat``'s shape."""
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def sgd(params: Iterable[torch.Tensor], lr: float, batch_size: int) -> None:
    """One minibatch SGD step ``p -= lr * p.grad / batch_size``, then zero the gradients.

    Parameters without a gradient (not used in the loss) are left unchanged
    (d2l fails on them with a ``TypeError``).
    """
    lr = check_float("lr", lr, low=0.0)
    batch_size = check_int("batch_size", batch_size, low=1)
    with torch.no_grad():
        for i, param in enumerate(params):
            if not isinstance(param, torch.Tensor):
                raise invalid_argument(f"params[{i}]", "a tensor", type(param).__name__)
            if param.grad is None:
                continue
            param -= lr * param.grad / batch_size
            param.grad.zero_()
