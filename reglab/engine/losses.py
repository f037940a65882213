"""Training losses by name, with label smoothing (Szegedy et al., 2016, "Rethinking the Inception architecture").

Label smoothing replaces the one-hot target of a K-class problem by
``(1 - eps) * one_hot + eps / K``: the model is penalised for putting all its
probability on one class, a regulariser on the output distribution. reglab
uses PyTorch's definition (``torch.nn.functional.cross_entropy(...,
label_smoothing=eps)``), so the smoothed mass ``eps / K`` also goes to the
true class.

``get_loss`` returns a callable ``loss(output, target)`` for
:func:`reglab.fit`'s ``loss_fn``: ``fit(..., loss_fn=get_loss("cross_entropy",
label_smoothing=0.1))``.

Shapes: cross-entropy takes logits ``(N, K)`` (or ``(N, K, d1, ...)``) and
class indices ``(N,)`` (or class probabilities shaped like the logits); MSE
takes two tensors of the same shape. Both return the mean over samples.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..core.checks import check_float, invalid_argument

__all__ = ["LOSSES", "get_loss"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

LOSSES: tuple[str, ...] = ("cross_entropy", "mse")


def get_loss(name_or_callable: str | LossFn, label_smoothing: float = 0.0) -> LossFn:
    """A loss ``loss(output, target) -> scalar`` by name, or a given callable.

    Args:
        name_or_callable: ``"cross_entropy"`` or ``"mse"``, or a callable
            ``(output, target) -> loss`` returned as is.
        label_smoothing: ``eps`` in ``[0, 1]``; only for ``"cross_entropy"``
            (for a callable or ``"mse"`` it must be 0).

    Returns:
        ``nn.CrossEntropyLoss(label_smoothing=eps)``, ``nn.MSELoss()`` or the callable.
    """
    eps = check_float("label_smoothing", label_smoothing, low=0.0, high=1.0)
    if callable(name_or_callable) and not isinstance(name_or_callable, str):
        if eps != 0.0:
            raise invalid_argument(
                "label_smoothing", "0 for a custom loss callable (smooth inside it)", label_smoothing
            )
        return name_or_callable
    if name_or_callable not in LOSSES:
        listed = ", ".join(repr(n) for n in LOSSES)
        raise invalid_argument(
            "name_or_callable", f"one of {listed} or a callable (output, target) -> loss", name_or_callable
        )
    if name_or_callable == "cross_entropy":
        return nn.CrossEntropyLoss(label_smoothing=eps)
    if eps != 0.0:
        raise invalid_argument(
            "label_smoothing", "0 for 'mse' (label smoothing needs class targets: use 'cross_entropy')", label_smoothing
        )
    return nn.MSELoss()
