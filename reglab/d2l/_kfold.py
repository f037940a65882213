"""K-fold cross-validation as in d2l's Kaggle house-price section (4.10).

d2l defines ``get_k_fold_data`` and ``k_fold`` in the notebook, not in its
library, and ``k_fold`` reaches for the notebook's global ``get_net`` and
``train``. Here both are functions with the book's positional signature;
``k_fold`` takes the model factory and the training function as keyword
arguments, defaulting to the book's (a linear model trained with Adam on the
MSE, scored by :func:`log_rmse`).

Folds are contiguous slices of ``n // k`` samples; as in the book, the last
``n % k`` samples are never used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..core.checks import check_float, check_int, invalid_argument
from ._data import load_array
from ._figures import plot

__all__ = ["get_k_fold_data", "log_rmse", "train_regression", "k_fold"]


def get_k_fold_data(k, i, X, y):
    """The ``i``-th fold as validation data, the other ``k - 1`` folds as training data.

    Args:
        k: number of folds (> 1).
        i: the validation fold, ``0 <= i < k``.
        X: features ``(n, ...)``; y: targets ``(n, ...)``.

    Returns:
        ``(X_train, y_train, X_valid, y_valid)`` with ``(k-1) * (n // k)`` and ``n // k`` samples.
    """
    k = check_int("k", k, low=2)
    i = check_int("i", i, low=0, high=k - 1)
    if X.shape[0] != y.shape[0]:
        raise invalid_argument("y", f"as many samples as X ({X.shape[0]})", tuple(y.shape))
    fold_size = X.shape[0] // k
    if fold_size == 0:
        raise invalid_argument("k", f"at most the number of samples ({X.shape[0]})", k)
    parts = [slice(j * fold_size, (j + 1) * fold_size) for j in range(k)]
    X_train = torch.cat([X[s] for j, s in enumerate(parts) if j != i], 0)
    y_train = torch.cat([y[s] for j, s in enumerate(parts) if j != i], 0)
    return X_train, y_train, X[parts[i]], y[parts[i]]


def log_rmse(net, features: torch.Tensor, labels: torch.Tensor) -> float:
    """RMSE between the logs of predictions (clamped to >= 1) and labels (the Kaggle metric)."""
    with torch.no_grad():
        clipped = torch.clamp(net(features), 1, float("inf"))
        return float(torch.sqrt(nn.functional.mse_loss(torch.log(clipped), torch.log(labels))))


def train_regression(
    net, train_features, train_labels, test_features, test_labels, num_epochs, learning_rate, weight_decay, batch_size
) -> tuple[list[float], list[float]]:
    """The book's ``train`` for house prices: Adam on the MSE, ``log_rmse`` after each epoch.

    Returns:
        ``(train_ls, test_ls)``: one log-RMSE per epoch (``test_ls`` empty when ``test_labels`` is None).
    """
    num_epochs = check_int("num_epochs", num_epochs, low=1)
    learning_rate = check_float("learning_rate", learning_rate, low=0.0, low_open=True)
    weight_decay = check_float("weight_decay", weight_decay, low=0.0)
    loss = nn.MSELoss()
    train_ls, test_ls = [], []
    train_iter = load_array((train_features, train_labels), batch_size)
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate, weight_decay=weight_decay)
    for _ in range(num_epochs):
        for X, y in train_iter:
            optimizer.zero_grad()
            loss(net(X), y).backward()
            optimizer.step()
        train_ls.append(log_rmse(net, train_features, train_labels))
        if test_labels is not None:
            test_ls.append(log_rmse(net, test_features, test_labels))
    return train_ls, test_ls


def k_fold(
    k,
    X_train,
    y_train,
    num_epochs,
    learning_rate,
    weight_decay,
    batch_size,
    *,
    get_net: Callable[[], nn.Module] | None = None,
    train: Callable[..., Any] | None = None,
    verbose: bool = True,
) -> tuple[float, float]:
    """Train ``k`` times, once per validation fold; return the mean final (train, valid) scores.

    Args:
        k, X_train, y_train, num_epochs, learning_rate, weight_decay, batch_size: as in the book.
        get_net: builds a fresh model per fold (default: ``nn.Sequential(nn.Linear(d, 1))``).
        train: ``train(net, X_tr, y_tr, X_va, y_va, num_epochs, learning_rate, weight_decay,
            batch_size) -> (train_scores, valid_scores)`` (default: :func:`train_regression`).
        verbose: print each fold's final scores and plot fold 1's curves, as the book.

    Returns:
        ``(mean final training score, mean final validation score)`` over the folds.
    """
    k = check_int("k", k, low=2)
    if get_net is None:
        in_features = X_train.shape[1]

        def get_net() -> nn.Module:
            return nn.Sequential(nn.Linear(in_features, 1))

    train = train_regression if train is None else train
    train_l_sum, valid_l_sum = 0.0, 0.0
    for i in range(k):
        X_tr, y_tr, X_va, y_va = get_k_fold_data(k, i, X_train, y_train)
        net = get_net()
        train_ls, valid_ls = train(net, X_tr, y_tr, X_va, y_va, num_epochs, learning_rate, weight_decay, batch_size)
        train_l_sum += float(train_ls[-1])
        valid_l_sum += float(valid_ls[-1])
        if verbose:
            if i == 0:
                plot(
                    list(range(1, num_epochs + 1)),
                    [train_ls, valid_ls],
                    xlabel="epoch",
                    ylabel="rmse",
                    xlim=[1, num_epochs],
                    legend=["train", "valid"],
                    yscale="log",
                )
            print(f"fold {i + 1}, train log rmse {float(train_ls[-1]):f}, valid log rmse {float(valid_ls[-1]):f}")
    return train_l_sum / k, valid_l_sum / k
