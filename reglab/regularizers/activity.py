"""Activity regularization: penalties on a network's activations rather than its weights.

Two families, each matching a reference implementation exactly:

* **Keras's activity regularizer** (``keras.layers.ActivityRegularization(l1, l2)``
  and the ``activity_regularizer=`` argument of every Keras layer): for an
  activation ``x`` of shape ``(N, *)``::

      activity_penalty(x, l1, l2) = (l1 * sum(|x|) + l2 * sum(x**2)) / N

  Keras's ``L1L2`` regularizer is ``l1 * sum(|x|) + l2 * sum(x**2)``, and its
  layer divides an *activity* loss by the batch size ``N = x.shape[0]`` "so
  that the relative weighting between the weight regularizers and the activity
  regularizers does not change with the batch size": tf.keras / Keras 2 in
  ``Layer._handle_activity_regularization``, Keras 3 in ``Layer.__call__``
  (which Keras 3 versions divide: ``docs/regularizers-penalties.md``). reglab
  follows the division: the penalty is per sample, like the data loss the
  engine averages. An empty batch gives 0 (Keras's
  ``divide_no_nan``).

  **No factor 1/2 on ``l2``**, unlike reglab's *weight* ``l2_penalty(lam)``
  (``lam / 2 * sum(w**2)``). The ½ there makes ``lam`` equal SGD's
  ``weight_decay``; activations have no optimizer counterpart, so the Keras
  factor is kept and an ``l2`` read from Keras code means the same here. The
  gradient of the L2 term is ``2 * l2 * x / N``.

* **AR and TAR** (Merity, Keskar & Socher, 2017, "Regularizing and Optimizing
  LSTM Language Models", section 4.6), with fastai's ``RNNRegularizer``
  formulas (``fastai/callback/rnn.py``)::

      activation_regularization(x, alpha) = alpha * mean(x**2)
      temporal_activation_regularization(h, beta) = beta * mean((h[:, 1:] - h[:, :-1])**2)

  AR takes the *dropped-out* output of the last RNN layer, TAR its *raw*
  output (before dropout). Means are over every element, so the strengths do
  not depend on the batch size, the sequence length or the width. Shapes are
  batch-first ``(N, T, H)`` by default as in fastai; ``time_dim=0`` for
  ``(T, N, H)``.

Dtypes: float16 and bfloat16 activations are reduced in float32 (fastai
casts with ``.float()``; reglab keeps float64 as float64); every result is a
0-dim tensor on the input's device, differentiable with respect to it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..core.checks import check_float, check_int, invalid_argument
from .base import TensorSummary
from .penalties import zero_penalty

__all__ = [
    "activity_penalty",
    "ActivityRegularization",
    "collect_activity_penalties",
    "activation_regularization",
    "temporal_activation_regularization",
]


def _check_activations(name: str, x: Any, min_dim: int, expected: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise invalid_argument(name, expected, x)
    if not x.is_floating_point() or x.dim() < min_dim:
        raise invalid_argument(name, expected, TensorSummary(x, with_dtype=True))
    return x


def _check_strength(name: str, value: Any) -> float:
    return check_float(name, value, low=0.0)


def _wide(x: torch.Tensor) -> torch.Tensor:
    """Half types are reduced in float32; other dtypes as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _mean_square(t: torch.Tensor) -> torch.Tensor:
    # fastai's .pow(2).mean(); an empty tensor gives 0, not the NaN of an empty mean.
    return t.pow(2).mean() if t.numel() else t.new_zeros(())


_BATCHED = "a floating-point tensor with a batch dimension (N, *)"


def activity_penalty(x: torch.Tensor, l1: float = 0.0, l2: float = 0.0) -> torch.Tensor:
    """Keras's activity penalty of one activation: ``(l1 * sum(|x|) + l2 * sum(x**2)) / N``.

    ``l2`` has no factor 1/2 (Keras's convention; see the module notes).

    Args:
        x: activations ``(N, *)``, floating point; dim 0 is the batch.
        l1: the L1 factor, ``>= 0``.
        l2: the L2 factor, ``>= 0``.

    Returns:
        A 0-dim tensor (float32 for half inputs, else ``x``'s dtype) on ``x``'s device.
    """
    l1 = _check_strength("l1", l1)
    l2 = _check_strength("l2", l2)
    x = _wide(_check_activations("x", x, 1, _BATCHED))
    total = x.new_zeros(())
    if l1:
        total = total + l1 * x.abs().sum()
    if l2:
        total = total + l2 * (x * x).sum()
    return total / max(x.shape[0], 1)


class ActivityRegularization(nn.Module):
    """Identity layer that records :func:`activity_penalty` of what passes through it (Keras's layer).

    ``forward(x)`` returns ``x`` itself. In training mode it also computes the
    penalty of ``x`` (differentiable) and **adds** it to ``self.penalty``; in
    eval mode it records nothing. A module called several times before the
    penalties are collected (a shared layer, an unrolled loop) holds the sum
    of its calls, as Keras adds one loss per call.
    :func:`collect_activity_penalties` returns the total and resets
    ``self.penalty`` to ``None``. Collect once per step, e.g. with
    ``fit(..., penalty=collect_activity_penalties)``: a training-mode forward
    nobody collects is carried into the next collection (and keeps its
    autograd graph alive until then).

    Args:
        l1: the L1 factor, ``>= 0``.
        l2: the L2 factor, ``>= 0`` (Keras's ``l2 * sum(x**2)``, no 1/2).

    Shapes: ``(N, *)`` in, the same object out.
    """

    penalty: torch.Tensor | None

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        super().__init__()
        self.l1 = _check_strength("l1", l1)
        self.l2 = _check_strength("l2", l2)
        self.penalty = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            term = activity_penalty(x, self.l1, self.l2)
            self.penalty = term if self.penalty is None else self.penalty + term
        return x

    def get_config(self) -> dict[str, Any]:
        """Exactly the constructor arguments, so ``type(r)(**r.get_config())`` rebuilds it."""
        return {"l1": self.l1, "l2": self.l2}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ActivityRegularization:
        return cls(**config)

    def extra_repr(self) -> str:
        return f"l1={self.l1!r}, l2={self.l2!r}"


def collect_activity_penalties(model: nn.Module) -> torch.Tensor:
    """Sum the penalties recorded by every :class:`ActivityRegularization` in ``model``, and clear them.

    Made for the engine: ``fit(model, ..., penalty=collect_activity_penalties)``
    adds the activity penalties of each step's forward pass to its loss. A
    shared module counts once, with the sum of its calls. A second call
    without a forward pass in between returns 0.

    Args:
        model: the network (it may itself be an :class:`ActivityRegularization`).

    Returns:
        A 0-dim tensor; when nothing was recorded, a zero of the dtype and on
        the device of the model's first parameter (float32 on the CPU without
        parameters).
    """
    if not isinstance(model, nn.Module):
        raise invalid_argument("model", "an nn.Module", model)
    terms: list[torch.Tensor] = []
    for module in model.modules():  # each module once, also when shared
        if isinstance(module, ActivityRegularization) and module.penalty is not None:
            terms.append(module.penalty)
            module.penalty = None
    if not terms:
        return zero_penalty(model)
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def activation_regularization(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """AR (Merity et al., 2017): ``alpha * mean(x**2)``, fastai's ``RNNRegularizer`` term.

    Args:
        x: the *dropped-out* output of the last RNN layer, e.g. ``(N, T, H)``;
            any shape with a batch dimension, floating point.
        alpha: the strength, ``>= 0``.

    Returns:
        A 0-dim tensor (float32 for half inputs, else ``x``'s dtype); 0 for an empty ``x``.
    """
    alpha = _check_strength("alpha", alpha)
    x = _check_activations("x", x, 1, _BATCHED)
    return alpha * _mean_square(_wide(x))


def temporal_activation_regularization(h: torch.Tensor, beta: float, *, time_dim: int = 1) -> torch.Tensor:
    """TAR (Merity et al., 2017): ``beta * mean((h[t+1] - h[t])**2)`` over consecutive time steps.

    fastai's ``beta * (h[:, 1:] - h[:, :-1]).pow(2).mean()`` for the default
    ``time_dim=1``. Fewer than 2 time steps give 0 (fastai takes the mean of
    an empty tensor there, NaN; its guard ``len(h) > 1`` tests the batch size
    of a batch-first tensor, so it skips TAR for a batch of 1, which reglab
    does not).

    Args:
        h: the *raw* (before dropout) output of the last RNN layer, at least
            2-D, floating point: ``(N, T, H)`` batch-first by default,
            ``(T, N, H)`` with ``time_dim=0``.
        beta: the strength, ``>= 0``.
        time_dim: the time dimension, ``-h.dim() <= time_dim < h.dim()``.

    Returns:
        A 0-dim tensor (float32 for half inputs, else ``h``'s dtype).
    """
    beta = _check_strength("beta", beta)
    h = _check_activations("h", h, 2, "a floating-point tensor with batch and time dimensions, e.g. (N, T, H)")
    time_dim = check_int("time_dim", time_dim, low=-h.dim(), high=h.dim() - 1)
    h = _wide(h)
    steps = h.shape[time_dim]
    if steps < 2:
        return h.new_zeros(())
    return beta * _mean_square(h.narrow(time_dim, 1, steps - 1) - h.narrow(time_dim, 0, steps - 1))
