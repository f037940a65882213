"""Weight penalties (L1, L2, elastic net) and optimizer parameter groups.

Conventions (the factors are part of the contract and are tested):

* ``l1_penalty(lam) = lam * sum(|w|)`` (Tibshirani, 1996, the lasso);
* ``l2_penalty(lam) = lam / 2 * sum(w**2)`` (ridge / weight decay): its
  gradient is ``lam * w``, exactly what ``torch.optim.SGD(weight_decay=lam)``
  adds to each gradient, so the two give the same training (bit for bit when
  ``lam`` is a power of two; see ``docs/regularizers-penalties.md`` for the
  one-rounding difference otherwise). Keras's ``L2(l2)`` is ``l2 * sum(w**2)``,
  i.e. reglab's ``lam = 2 * l2``;
* ``elastic_net_penalty(lam, l1_ratio=r) = lam * (r * sum(|w|) + (1 - r) / 2 * sum(w**2))``
  (Zou & Hastie, 2005, with scikit-learn's ``l1_ratio``).

What is penalised: given an ``nn.Module``, only its *weights*: parameters with
``dim >= 2`` that do not belong to a normalisation layer (BatchNorm and the
other ``_NormBase`` layers, LayerNorm, GroupNorm, LocalResponseNorm, RMSNorm).
Biases and other parameters with fewer than 2 dimensions come in with
``include_bias=True``, normalisation parameters with ``include_norm=True``.
Given an iterable of tensors, every tensor is used. Shared (tied) parameters
count once. The same rule splits a model's parameters for optimizers
(:func:`split_parameters`, :func:`param_groups`; nanoGPT's ``dim >= 2``
heuristic plus norm-layer membership), which also honour a model's own list,
as timm's optimizer factory does: the names a ``no_weight_decay()`` method
returns (exact names or ``fnmatch`` patterns such as ``"pos_embed"``,
``"blocks.*.gamma"``) and the substrings ``no_weight_decay_keywords()``
returns (Swin's ``"relative_position_bias_table"``) get no decay.
:func:`param_groups` leaves frozen parameters (``requires_grad=False``) out.

Shapes: any parameter shapes; every penalty is a 0-dim tensor on the
parameters' device, differentiable with respect to them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from ..core.checks import check_bool, check_float, invalid_argument

__all__ = [
    "NORM_LAYERS",
    "l1_penalty",
    "l2_penalty",
    "elastic_net_penalty",
    "L1",
    "L2",
    "ElasticNet",
    "penalized_parameters",
    "split_parameters",
    "param_groups",
]

NORM_LAYERS: tuple[type[nn.Module], ...] = tuple(
    cls
    for cls in (
        nn.modules.batchnorm._NormBase,  # BatchNorm*, SyncBatchNorm, InstanceNorm*, the lazy forms
        nn.LayerNorm,
        nn.GroupNorm,
        nn.LocalResponseNorm,
        getattr(nn, "RMSNorm", None),  # torch >= 2.4
    )
    if cls is not None
)

ParamsOrModel = nn.Module | Iterable[torch.Tensor]


def _named_parameters(model: nn.Module) -> Iterator[tuple[str, torch.Tensor, bool]]:
    """``(qualified name, parameter, owned by a norm layer)``, each parameter once."""
    seen: set[int] = set()
    for prefix, module in model.named_modules():
        is_norm = isinstance(module, NORM_LAYERS)
        for name, param in module.named_parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            yield (f"{prefix}.{name}" if prefix else name), param, is_norm


def _is_decayed(param: torch.Tensor, is_norm: bool, *, include_bias: bool, include_norm: bool) -> bool:
    if is_norm:
        return include_norm
    return param.dim() >= 2 or include_bias


def penalized_parameters(
    params_or_model: ParamsOrModel, *, include_bias: bool = False, include_norm: bool = False
) -> list[torch.Tensor]:
    """The tensors a penalty covers: a model's weights (see the module notes) or every given tensor.

    Args:
        params_or_model: an ``nn.Module``, or an iterable of tensors (all used).
        include_bias: also take a model's biases and other parameters with ``dim < 2``.
        include_norm: also take a model's normalisation-layer parameters.

    Returns:
        The tensors, in ``named_parameters`` order.
    """
    include_bias = check_bool("include_bias", include_bias)
    include_norm = check_bool("include_norm", include_norm)
    if isinstance(params_or_model, nn.Module):
        return [
            p
            for _, p, is_norm in _named_parameters(params_or_model)
            if _is_decayed(p, is_norm, include_bias=include_bias, include_norm=include_norm)
        ]
    if isinstance(params_or_model, torch.Tensor) or not isinstance(params_or_model, Iterable):
        raise invalid_argument("params_or_model", "an nn.Module or an iterable of tensors", params_or_model)
    tensors = list(params_or_model)
    for t in tensors:
        if not isinstance(t, torch.Tensor):
            raise invalid_argument("params_or_model", "an nn.Module or an iterable of tensors", t)
    return tensors


def zero_penalty(params_or_model: ParamsOrModel) -> torch.Tensor:
    if isinstance(params_or_model, nn.Module):
        for p in params_or_model.parameters():
            return p.new_zeros(())
    return torch.zeros(())


def _total(terms: list[torch.Tensor]) -> torch.Tensor:
    # A plain sum: its backward hands every term the incoming gradient unchanged,
    # which keeps the L2 gradient equal to lam * w (see l2_penalty).
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _abs_sum(tensors: list[torch.Tensor]) -> torch.Tensor:
    return _total([t.abs().sum() for t in tensors])


def _square_sum(tensors: list[torch.Tensor]) -> torch.Tensor:
    # w * w, not w.pow(2): the backward of (lam/2) * (w * w).sum() is
    # 2 * ((lam/2) * w) == lam * w to the last bit (doubling is exact).
    return _total([(t * t).sum() for t in tensors])


def _check_lam(lam: Any) -> float:
    return check_float("lam", lam, low=0.0)


def l1_penalty(
    params_or_model: ParamsOrModel, lam: float, *, include_bias: bool = False, include_norm: bool = False
) -> torch.Tensor:
    """``lam * sum(|w|)`` over the penalised tensors.

    Args:
        params_or_model: an ``nn.Module`` (weights only by default) or an iterable of tensors.
        lam: the strength, ``>= 0``.
        include_bias: also penalise a model's biases and other ``dim < 2`` parameters.
        include_norm: also penalise a model's normalisation-layer parameters.

    Returns:
        A 0-dim tensor; zero when there is nothing to penalise.
    """
    lam = _check_lam(lam)
    tensors = penalized_parameters(params_or_model, include_bias=include_bias, include_norm=include_norm)
    if not tensors:
        return zero_penalty(params_or_model)
    return lam * _abs_sum(tensors)


def l2_penalty(
    params_or_model: ParamsOrModel, lam: float, *, include_bias: bool = False, include_norm: bool = False
) -> torch.Tensor:
    """``lam / 2 * sum(w**2)``: its gradient ``lam * w`` is SGD's ``weight_decay=lam``.

    Args:
        params_or_model: an ``nn.Module`` (weights only by default) or an iterable of tensors.
        lam: the strength, ``>= 0`` (the ``weight_decay`` it equals).
        include_bias: also penalise a model's biases and other ``dim < 2`` parameters.
        include_norm: also penalise a model's normalisation-layer parameters.

    Returns:
        A 0-dim tensor; zero when there is nothing to penalise.
    """
    lam = _check_lam(lam)
    tensors = penalized_parameters(params_or_model, include_bias=include_bias, include_norm=include_norm)
    if not tensors:
        return zero_penalty(params_or_model)
    return (lam / 2) * _square_sum(tensors)


def elastic_net_penalty(
    params_or_model: ParamsOrModel,
    lam: float,
    l1_ratio: float = 0.5,
    *,
    include_bias: bool = False,
    include_norm: bool = False,
) -> torch.Tensor:
    """``lam * (r * sum(|w|) + (1 - r) / 2 * sum(w**2))`` with ``r = l1_ratio``.

    ``l1_ratio=1`` is :func:`l1_penalty`, ``l1_ratio=0`` is :func:`l2_penalty`.

    Args:
        params_or_model: an ``nn.Module`` (weights only by default) or an iterable of tensors.
        lam: the overall strength, ``>= 0``.
        l1_ratio: the L1 share ``r``, between 0 and 1.
        include_bias: also penalise a model's biases and other ``dim < 2`` parameters.
        include_norm: also penalise a model's normalisation-layer parameters.

    Returns:
        A 0-dim tensor; zero when there is nothing to penalise.
    """
    lam = _check_lam(lam)
    r = check_float("l1_ratio", l1_ratio, low=0.0, high=1.0)
    tensors = penalized_parameters(params_or_model, include_bias=include_bias, include_norm=include_norm)
    if not tensors:
        return zero_penalty(params_or_model)
    return (lam * r) * _abs_sum(tensors) + (lam * (1 - r) / 2) * _square_sum(tensors)


class _Penalty(nn.Module):
    """A penalty with fixed settings, callable on a model or tensors (e.g. ``fit(..., penalty=L2(1e-4))``)."""

    def __init__(self, lam: float, *, include_bias: bool = False, include_norm: bool = False) -> None:
        super().__init__()
        self.lam = _check_lam(lam)
        self.include_bias = check_bool("include_bias", include_bias)
        self.include_norm = check_bool("include_norm", include_norm)

    def get_config(self) -> dict[str, Any]:
        """Exactly the constructor arguments, so ``type(r)(**r.get_config())`` rebuilds it."""
        return {"lam": self.lam, "include_bias": self.include_bias, "include_norm": self.include_norm}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _Penalty:
        return cls(**config)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())


class L1(_Penalty):
    """:func:`l1_penalty` as a callable object: ``L1(lam)(model) == lam * sum(|w|)``."""

    def forward(self, params_or_model: ParamsOrModel) -> torch.Tensor:
        return l1_penalty(params_or_model, self.lam, include_bias=self.include_bias, include_norm=self.include_norm)


class L2(_Penalty):
    """:func:`l2_penalty` as a callable object: ``L2(lam)(model) == lam / 2 * sum(w**2)``."""

    def forward(self, params_or_model: ParamsOrModel) -> torch.Tensor:
        return l2_penalty(params_or_model, self.lam, include_bias=self.include_bias, include_norm=self.include_norm)


class ElasticNet(_Penalty):
    """:func:`elastic_net_penalty` as a callable object."""

    def __init__(
        self, lam: float, l1_ratio: float = 0.5, *, include_bias: bool = False, include_norm: bool = False
    ) -> None:
        super().__init__(lam, include_bias=include_bias, include_norm=include_norm)
        self.l1_ratio = check_float("l1_ratio", l1_ratio, low=0.0, high=1.0)

    def get_config(self) -> dict[str, Any]:
        return {
            "lam": self.lam,
            "l1_ratio": self.l1_ratio,
            "include_bias": self.include_bias,
            "include_norm": self.include_norm,
        }

    def forward(self, params_or_model: ParamsOrModel) -> torch.Tensor:
        return elastic_net_penalty(
            params_or_model, self.lam, self.l1_ratio, include_bias=self.include_bias, include_norm=self.include_norm
        )


_NO_DECAY_TOKENS = ("bias", "norm")


def _check_no_decay(no_decay: Any) -> tuple[str, ...]:
    expected = "a collection of 'bias', 'norm' or parameter-name substrings"
    if isinstance(no_decay, (str, torch.Tensor)) or not isinstance(no_decay, Collection):
        raise invalid_argument("no_decay", expected, no_decay)
    items = tuple(no_decay)
    if any(not isinstance(s, str) or not s for s in items):
        raise invalid_argument("no_decay", expected, no_decay)
    return items


def _model_list(model: nn.Module, method: str) -> tuple[str, ...]:
    """The names a model's ``no_weight_decay()`` / ``no_weight_decay_keywords()`` returns (none without it)."""
    get = getattr(model, method, None)
    if not callable(get):
        return ()
    names = get()
    if isinstance(names, str) or not isinstance(names, Iterable) or not all(isinstance(n, str) for n in names):
        raise invalid_argument(f"model.{method}()", "a collection of parameter names", names)
    return tuple(names)


def _split_named(
    model: nn.Module, no_decay: tuple[str, ...]
) -> tuple[list[tuple[str, torch.Tensor]], list[tuple[str, torch.Tensor]]]:
    if not isinstance(model, nn.Module):
        raise invalid_argument("model", "an nn.Module", model)
    substrings = [s for s in no_decay if s not in _NO_DECAY_TOKENS] + list(
        _model_list(model, "no_weight_decay_keywords")
    )
    patterns = _model_list(model, "no_weight_decay")
    decay: list[tuple[str, torch.Tensor]] = []
    rest: list[tuple[str, torch.Tensor]] = []
    for name, p, is_norm in _named_parameters(model):
        decayed = _is_decayed(p, is_norm, include_bias="bias" not in no_decay, include_norm="norm" not in no_decay)
        if decayed and (any(s in name for s in substrings) or any(fnmatch.fnmatchcase(name, pat) for pat in patterns)):
            decayed = False
        (decay if decayed else rest).append((name, p))
    return decay, rest


def split_parameters(
    model: nn.Module, *, no_decay: Collection[str] = _NO_DECAY_TOKENS
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Split a model's parameters into ``(decay, no_decay)``; each parameter lands in exactly one.

    Args:
        model: the network.
        no_decay: what gets no decay: ``"bias"`` = every parameter with
            ``dim < 2`` (biases, scalars, per-channel scales; nanoGPT's rule),
            ``"norm"`` = parameters of normalisation layers (see
            :data:`NORM_LAYERS`), any other string = parameters whose
            qualified name contains it (e.g. ``"pos_embed"``). The model's own
            ``no_weight_decay()`` names and ``no_weight_decay_keywords()``
            substrings are added (see the module notes).

    Returns:
        ``(decay, no_decay)`` lists of parameters in ``named_parameters`` order;
        tied parameters appear once, frozen ones too.
    """
    decay, rest = _split_named(model, _check_no_decay(no_decay))
    return [p for _, p in decay], [p for _, p in rest]


def param_groups(
    model: nn.Module, weight_decay: float, *, no_decay: Collection[str] = _NO_DECAY_TOKENS
) -> list[dict[str, Any]]:
    """Optimizer parameter groups: ``weight_decay`` on weights, ``0.0`` on the rest.

    ``torch.optim.AdamW(param_groups(model, 0.05), lr=1e-3)``. Frozen parameters
    (``requires_grad=False``) are left out, and so are empty groups; a model's
    ``no_weight_decay()`` / ``no_weight_decay_keywords()`` are honoured (as
    timm's ``create_optimizer_v2`` does).

    Args:
        model: the network.
        weight_decay: the decay of the first group, ``>= 0``.
        no_decay: what gets no decay, as in :func:`split_parameters`.

    Returns:
        A list of ``{"params": [...], "weight_decay": ...}`` dicts.
    """
    weight_decay = check_float("weight_decay", weight_decay, low=0.0)
    decay, rest = split_parameters(model, no_decay=no_decay)
    decay = [p for p in decay if p.requires_grad]
    rest = [p for p in rest if p.requires_grad]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]
