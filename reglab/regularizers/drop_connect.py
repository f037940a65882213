"""DropConnect: dropout on the weights of a Linear, Conv or recurrent layer.

Wan, Zeiler, Zhang, LeCun and Fergus, 2013, "Regularization of Neural Networks
using DropConnect". Each forward pass draws a fresh mask over the layer's
**weights** (not its activations) and uses ``weight * mask / (1 - p)``
(inverted scaling, so the expected weight is the weight itself). For Linear and
Conv layers the weight is dropped, and the bias too only with
``drop_bias=True``. For ``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` the
hidden-to-hidden weights ``weight_hh_l{k}`` (and ``weight_hh_l{k}_reverse``)
are dropped: the weight drop of Merity, Keskar and Socher, 2017, "Regularizing
and Optimizing LSTM Language Models" (AWD-LSTM; fastai's ``WeightDropout``).
``weights=`` names other parameters to drop instead.

Convention: ``p`` is the **drop** probability, as everywhere in reglab.
``p = 0`` and eval mode run the wrapped layer unchanged; ``p = 1`` zeros the
dropped weights. ``mc=True`` keeps the masks on in eval mode too (MC
DropConnect, for predictive uncertainty; see :func:`reglab.mc_predict`).

The wrapper is functional and never replaces the layer's ``Parameter``s: it
calls ``torch.nn.functional.linear`` (or the conv layer's own convolution, so
``padding_mode`` is honoured) with the masked weight, and runs a recurrent
layer through ``torch.func.functional_call`` with the masked weights. Hence
``state_dict`` holds exactly the wrapped layer's keys under ``module.``,
optimizers see the original parameters, gradients reach them (masked and
scaled), and ``torch.compile`` and DDP work (checked for Linear and Conv;
Dynamo does not trace recurrent layers and breaks the graph there, with or
without this wrapper). The
masks are drawn per forward pass, one per dropped parameter, in the layer's
parameter order, and shared by the whole batch (as in the paper's efficient
variant) and, for a recurrent layer, by every time step (the point of
AWD-LSTM's weight drop: the same recurrent connections are cut all along the
sequence).

How a recurrent layer sees the masked weights: ``functional_call`` swaps the
tensors in the layer's ``_parameters`` dict directly (not through
``RNNBase.__setattr__``, which would update the cached ``_flat_weights``); it is
``RNNBase.forward`` that notices, through weak references, that its
parameters changed and rebuilds ``_flat_weights`` from them, and again on the
next call when the originals are back (the tests check the output against a
copy of the layer holding the masked weight). On CUDA with cuDNN every rebuild
(each training pass, and the first eval pass after one) calls
``flatten_parameters``, which copies all the layer's weights, the masked ones
and the original ``Parameter``s, into one new contiguous buffer and points them
at it in place (under ``no_grad``): one copy of the weights per pass. PyTorch
may also warn that "RNN module weights are not part of single contiguous chunk
of memory"; fastai's ``WeightDropout`` meets the same and silences the warning.
This CUDA path is not tested here (no GPU).

Shapes: those of the wrapped layer; each mask has its parameter's shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..core.checks import check_bool, check_generator, check_probability, invalid_argument
from .base import StochasticModule, check_input
from .masks import apply_mask, keep_mask

__all__ = ["drop_connect_weight", "DropConnect"]

_SUPPORTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.RNNBase)
_SUPPORTED_TEXT = "an nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.RNN, nn.LSTM or nn.GRU"


def drop_connect_weight(
    weight: torch.Tensor, p: float = 0.5, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``weight * mask / (1 - p)`` with a fresh keep mask (keep probability ``1 - p``).

    Differentiable: the gradient reaching ``weight`` is the upstream gradient
    times ``mask / (1 - p)``.

    Args:
        weight: a weight (or bias) tensor of any shape, on any device.
        p: drop probability of each entry, ``0 <= p <= 1``.
        generator: the ``torch.Generator`` for the mask (on ``weight``'s device).

    Returns:
        A new tensor of ``weight``'s shape, dtype and device (``weight`` itself
        when ``p == 0``; zeros when ``p == 1``).
    """
    p = check_probability("p", p)
    generator = check_generator("generator", generator)
    check_input(weight, "weight")
    return _drop_connect_weight(weight, p, generator)


def _drop_connect_weight(weight: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
    if p == 0.0:
        return weight
    if p == 1.0:
        return weight.mul(0.0)
    mask = keep_mask(weight.shape, p, device=weight.device, generator=generator)
    return apply_mask(weight, mask, 1.0 / (1.0 - p), inplace=False)


_DROP_BIAS_EXPECTED = "False for a recurrent layer or with `weights` (name the biases in `weights`)"


def _resolve_weights(module: nn.Module, weights: Any, drop_bias: bool) -> tuple[str, ...]:
    """The names of the parameters to drop, in the module's parameter order."""
    names = [name for name, _ in module.named_parameters(recurse=False)]
    if weights is None:
        if isinstance(module, nn.RNNBase):
            if drop_bias:
                raise invalid_argument("drop_bias", _DROP_BIAS_EXPECTED, drop_bias)
            return tuple(name for name in names if name.startswith("weight_hh_l"))
        return tuple(name for name in names if name == "weight" or (drop_bias and name == "bias"))
    if drop_bias:
        raise invalid_argument("drop_bias", _DROP_BIAS_EXPECTED, drop_bias)
    listed = ", ".join(repr(name) for name in names)
    expected = f"a non-empty list or tuple of distinct parameter names of the module, from {listed}"
    if (
        not isinstance(weights, (list, tuple))
        or not weights
        or not all(isinstance(name, str) and name in names for name in weights)
        or len(set(weights)) != len(weights)
    ):
        raise invalid_argument("weights", expected, weights)
    return tuple(name for name in names if name in weights)


class DropConnect(StochasticModule):
    """Wrap a Linear, Conv or recurrent layer so that its weights are dropped.

    For ``nn.Linear`` and ``nn.Conv1d/2d/3d`` the ``weight`` is dropped (and
    the ``bias`` with ``drop_bias=True``); for ``nn.RNN``, ``nn.LSTM`` and
    ``nn.GRU`` every ``weight_hh_l{k}`` and ``weight_hh_l{k}_reverse``
    (AWD-LSTM's weight drop, fastai's ``WeightDropout(module, p)``), while the
    input-to-hidden weights and the biases are used unmasked.

    Args:
        module: the layer to wrap (kept as ``self.module``; its parameters are
            used as they are, never replaced).
        p: drop probability of each weight, ``0 <= p <= 1``.
        mc: stay stochastic in eval mode (MC DropConnect).
        drop_bias: drop the bias entries too (with the same ``p``); Linear and
            Conv with the default ``weights`` only.
        weights: the names of the parameters to drop, each one of the layer's
            own (e.g. ``("weight_hh_l0", "weight_ih_l0")``, or ``("weight",
            "bias")`` for a Linear); ``None`` for the defaults above. Masks are
            drawn in the layer's parameter order.
        generator: optional ``torch.Generator`` for reproducible masks.

    Shape: that of the wrapped layer, e.g. ``(N, *, in_features)`` to
    ``(N, *, out_features)`` for Linear, ``(N, C_in, H, W)`` to
    ``(N, C_out, H', W')`` for Conv2d. A recurrent layer takes what it takes
    (``input`` and an optional ``hx``, ``batch_first``, packed sequences) and
    returns what it returns: ``(output, h_n)``, or ``(output, (h_n, c_n))``
    for an LSTM.
    """

    def __init__(
        self,
        module: nn.Module,
        p: float = 0.5,
        *,
        mc: bool = False,
        drop_bias: bool = False,
        weights: Sequence[str] | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(module, _SUPPORTED):
            raise invalid_argument("module", _SUPPORTED_TEXT, type(module).__name__)
        self.module = module
        self.p = check_probability("p", p)
        self.mc = check_bool("mc", mc)
        self.drop_bias = check_bool("drop_bias", drop_bias)
        self.weights = _resolve_weights(module, weights, self.drop_bias)
        self.generator = check_generator("generator", generator)

    def forward(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        if not (self.training or self.mc) or self.p == 0.0:
            return self.module(x, *args, **kwargs)
        recurrent = isinstance(self.module, nn.RNNBase)
        if not recurrent and (args or kwargs):
            # Linear and Conv take one input: let the layer raise its own TypeError
            # (before any mask is drawn).
            return self.module(x, *args, **kwargs)
        masked = {
            name: _drop_connect_weight(getattr(self.module, name), self.p, self.generator) for name in self.weights
        }
        if isinstance(self.module, nn.RNNBase):  # (recurrent, spelled so that the type is narrowed below)
            # RNNBase.forward rebuilds its cached _flat_weights from the swapped-in
            # tensors (see the module docstring).
            return functional_call(self.module, masked, (x, *args), kwargs)
        weight = masked.get("weight", self.module.weight)
        bias = masked.get("bias", self.module.bias)
        if isinstance(self.module, nn.Linear):
            return F.linear(x, weight, bias)
        # The conv layers' own helper applies padding_mode (reflect, circular...)
        # exactly as their forward does.
        return self.module._conv_forward(x, weight, bias)

    def extra_repr(self) -> str:
        return f"p={self.p}, mc={self.mc}, drop_bias={self.drop_bias}, weights={self.weights}"
