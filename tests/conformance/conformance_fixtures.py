"""Defective (and correct) regularizers for the conformance checker's tests.

Each defective dropout reproduces one mistake from the seed notes
(/work/shared/seeds/README.md) and otherwise follows the contract, so the
checker must fail exactly the properties named in ``EXPECTED_FAILURES``.
These are importable targets too: ``reglab check tests.conformance.conformance_fixtures:d2l_dropout``.
"""

from __future__ import annotations

import torch
from torch import nn


def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:  # also false for NaN
        raise ValueError(f"p must be in [0, 1], got {p}")


# (a) seeds 000 and 003: the mask comes from a normal draw, survivors still scaled by 1/(1-p).
def d2l_dropout(X: torch.Tensor, dropout: float) -> torch.Tensor:
    assert 0 <= dropout <= 1
    if dropout == 1:
        return torch.zeros_like(X)
    if dropout == 0:
        return X
    mask = (torch.randn(X.shape) > dropout).float()
    return mask * X / (1.0 - dropout)


# (b) seed 002: a "vanilla" dropout that never rescales the survivors.
def vanilla_dropout(input: torch.Tensor, p: float = 0.5, training: bool = True) -> torch.Tensor:
    _check_p(p)
    if not training or p == 0:
        return input
    mask = (torch.rand(input.shape, device=input.device) >= p).to(input.dtype)
    return input * mask


# (c) one mask drawn on the first call and reused on every later call.
class CachedMaskDropout(nn.Module):
    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        _check_p(p)
        self.p = p
        self._mask: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return torch.zeros_like(x)
        if self._mask is None or self._mask.shape != x.shape:
            self._mask = torch.rand(x.shape, device=x.device) >= self.p
        return x * self._mask.to(x.dtype) / (1.0 - self.p)


# (d) seed 000's Net: the train/eval switch is a flag fixed at construction, not self.training.
class NoEvalSwitchDropout(nn.Module):
    def __init__(self, p: float = 0.5, is_training: bool = True) -> None:
        super().__init__()
        _check_p(p)
        self.p = p
        self.is_training = is_training

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.is_training or self.p == 0:
            return x
        if self.p == 1:
            return torch.zeros_like(x)
        mask = torch.rand(x.shape, device=x.device) >= self.p
        return x * mask.to(x.dtype) / (1.0 - self.p)


# (e) seed 001 (cs231n): p is the KEEP probability, survivors scaled by 1/p.
def keep_prob_dropout(x: torch.Tensor, p: float = 0.5, training: bool = True) -> torch.Tensor:
    _check_p(p)
    if not training:
        return x
    mask = (torch.rand(x.shape, device=x.device) < p).to(x.dtype) / p
    return x * mask


# The properties each defective dropout must fail, and nothing else.
EXPECTED_FAILURES = {
    "d2l_dropout": {"keep_rate", "mean"},
    "vanilla_dropout": {"mean", "scale"},
    "CachedMaskDropout": {"independent_calls"},
    "NoEvalSwitchDropout": {"eval_identity"},
    "keep_prob_dropout": {"keep_rate", "scale", "p_zero", "p_one"},  # mean is right: 1/p matches keep rate p
}


# --- penalties ------------------------------------------------------------------------


def _weights(params):
    """A model's weights (dim >= 2: no biases, no normalisation weights), or the tensors given."""
    if isinstance(params, nn.Module):
        return [p for p in params.parameters() if p.dim() >= 2]
    return list(params)


def _check_lam(lam: float) -> None:
    if not lam >= 0.0:  # also false for NaN
        raise ValueError(f"lam must be >= 0, got {lam}")


def l2_half(params, lam: float) -> torch.Tensor:
    """The correct L2 penalty: lam/2 * sum(w**2), whose gradient lam*w is SGD's weight_decay=lam."""
    _check_lam(lam)
    return lam / 2 * sum((w * w).sum() for w in _weights(params))


def l2_double(params, lam: float) -> torch.Tensor:
    """(f) lam * sum(w**2): twice SGD's weight_decay convention (gradient 2*lam*w)."""
    _check_lam(lam)
    return lam * sum((w * w).sum() for w in _weights(params))


def l2_with_biases(params, lam: float) -> torch.Tensor:
    """lam/2 * sum(w**2) over every parameter of a model, biases and norm weights included."""
    _check_lam(lam)
    tensors = params.parameters() if isinstance(params, nn.Module) else params
    return lam / 2 * sum((w * w).sum() for w in tensors)


def l1(params, lam: float) -> torch.Tensor:
    """The correct L1 penalty: lam * sum(|w|)."""
    _check_lam(lam)
    return lam * sum(w.abs().sum() for w in _weights(params))


class L2:
    """Keras style: ``L2(lam)(params)``, the correct lam/2 * sum(w**2)."""

    def __init__(self, lam: float) -> None:
        _check_lam(lam)
        self.lam = lam

    def __call__(self, params) -> torch.Tensor:
        return l2_half(params, self.lam)


# --- DropPath and DropBlock ----------------------------------------------------------------
# Each breaks one property of reglab.conformance.structured and keeps the others.


# An element-wise dropout passed off as drop path: elements, not whole samples, are dropped.
class ElementwiseDropPath(nn.Module):
    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        _check_p(drop_prob)
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0:
            return x
        keep = 1.0 - self.drop_prob
        return x * torch.empty_like(x).bernoulli_(keep) / keep


# Drop path whose drop_prob is used as the keep probability (survivors scaled by 1/p).
class KeepProbDropPath(nn.Module):
    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        _check_p(drop_prob)
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0:
            return x
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(self.drop_prob)
        return x * mask / self.drop_prob


# Drop path that never rescales the kept samples.
def unscaled_drop_path(x: torch.Tensor, drop_prob: float = 0.0, training: bool = False) -> torch.Tensor:
    _check_p(drop_prob)
    if not training or drop_prob == 0:
        return x
    return x * x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1.0 - drop_prob)


def _seeds(shape: torch.Size, gamma: float, b: int, like: torch.Tensor) -> torch.Tensor:
    """A keep mask (1 kept) of b x b blocks from seeds drawn where a whole block fits."""
    n, c, h, w = shape
    seeds = torch.empty((n, c, h - b + 1, w - b + 1), dtype=like.dtype, device=like.device).bernoulli_(gamma)
    dropped = torch.nn.functional.max_pool2d(torch.nn.functional.pad(seeds, (b - 1,) * 4), b, stride=1)
    return 1.0 - dropped


def _gamma(p: float, b: int, h: int, w: int) -> float:
    return p * h * w / (b * b) / ((h - b + 1) * (w - b + 1))


# DropBlock that drops single units (a block_size it ignores), at the right rate and scale.
class UnitDropBlock(nn.Module):
    def __init__(self, drop_prob: float = 0.1, block_size: int = 7) -> None:
        super().__init__()
        _check_p(drop_prob)
        self.drop_prob, self.block_size = drop_prob, block_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0:
            return x
        mask = torch.empty_like(x).bernoulli_(1.0 - self.drop_prob)
        return x * mask * mask.numel() / mask.sum().clamp_min(1.0)


# DropBlock that never rescales, so the mean shrinks.
class UnscaledDropBlock(UnitDropBlock):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0:
            return x
        h, w = x.shape[-2:]
        return x * _seeds(x.shape, _gamma(self.drop_prob, self.block_size, h, w), self.block_size, x)


# DropBlock that uses p itself as the seed rate (no 1/b² correction): it drops about b² times too much.
class UncorrectedGammaDropBlock(UnitDropBlock):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0:
            return x
        mask = _seeds(x.shape, self.drop_prob, self.block_size, x)
        return x * mask * mask.numel() / mask.sum().clamp_min(1.0)


# A correct DropBlock in every respect but one: it stays on in eval mode.
class AlwaysOnDropBlock(UnitDropBlock):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0:
            return x
        h, w = x.shape[-2:]
        mask = _seeds(x.shape, _gamma(self.drop_prob, self.block_size, h, w), self.block_size, x)
        return x * mask * mask.numel() / mask.sum().clamp_min(1.0)


# The properties each defective DropPath / DropBlock must fail, and nothing else.
EXPECTED_STRUCTURED_FAILURES = {
    "ElementwiseDropPath": ("droppath", {"keep_rate", "per_sample"}),
    "KeepProbDropPath": ("droppath", {"keep_rate", "scale"}),
    "unscaled_drop_path": ("droppath", {"scale"}),
    "UnitDropBlock": ("dropblock", {"blocks"}),
    "UnscaledDropBlock": ("dropblock", {"mean"}),
    "UncorrectedGammaDropBlock": ("dropblock", {"drop_rate"}),
    "AlwaysOnDropBlock": ("dropblock", {"eval_identity"}),
}
