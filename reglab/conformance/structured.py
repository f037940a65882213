"""The statistical contracts of DropPath (stochastic depth) and DropBlock, checked on anyone's implementation.

Convention: ``p`` is the **drop** probability (timm's ``drop_prob``). Targets
are called as in :mod:`reglab.conformance._target`: a Module class ``M(p)``, a
factory ``p -> Module`` or a function ``f(x, p[, training])``.

DropPath (Huang et al., 2016; timm's ``DropPath``): in training each
**sample** (index along dim 0) is dropped whole with probability ``p`` and the
survivors are scaled by ``1 / (1 - p)``; in evaluation it is the identity.
Inputs are ``(samples, 16)``.

========================  =====================================================
``keep_rate``             fraction of samples kept is ``1 - p`` (|z| <= 5, binomial)
``per_sample``            every sample is kept whole or dropped whole
``scale``                 kept samples are ``x / (1 - p)`` (rel. 1e-6 in float32, 8 ulp in float64)
``independent_calls``     two calls agree on ``k² + (1-k)²`` of the samples (|z| <= 5)
``eval_identity``         ``training=False`` / ``.eval()`` returns the input's values
``p_zero``                ``p = 0`` is the identity in training
``bad_p``                 ``p`` in (-0.1, 1.5, nan) raises an exception
========================  =====================================================

DropBlock (Ghiasi, Lin and Le, 2018; timm's ``DropBlock2d``): contiguous
``block_size x block_size`` squares of each feature map are dropped, the seeds
drawn at the rate ``gamma`` of :func:`reglab.regularizers.drop_block_gamma`, and
the output is rescaled to keep the mean. Inputs are ``(32, 4, size, size)``;
each ``p`` is run ``calls`` times and the per-call statistics (independent
draws) give the standard errors.

========================  =====================================================
``drop_rate``             fraction of zeros within the paper's bounds ``[p (1 - gamma b²/2), p]``
                          (the union bound and the second Bonferroni inequality; |z| <= 5 outside)
``blocks``                every dropped unit lies in a dropped ``b x b`` square (squares may
                          be cut by the map's edge)
``mean``                  output mean equals input mean (|z| <= 5 over the calls)
``independent_calls``     two calls do not drop the same units
``eval_identity``         ``training=False`` / ``.eval()`` returns the input's values
``p_zero``                ``p = 0`` is the identity in training
``bad_p``                 ``p`` in (-0.1, 1.5, nan) raises an exception
========================  =====================================================

``block_size`` is passed to the target as a keyword when it takes one (a
parameter named ``block_size``, or ``**kwargs``); otherwise the target is
taken to use that block size (e.g. a factory ``p -> DropBlock(p, 5)`` checked
with ``block_size=5``).
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ..core.checks import check_float, check_int, invalid_argument
from ._report import CheckResult, ConformanceReport, Verdict
from ._sampling import Session, fmt
from ._target import DropoutTarget, _concrete, describe_target, exit_refused
from .dropout import Z_MAX, _bad_p, _eval_identity, _guarded, _p_zero, _scale

__all__ = ["check_droppath", "check_dropblock", "DROPPATH_PROPERTIES", "DROPBLOCK_PROPERTIES"]

DROPPATH_PROPERTIES = ("keep_rate", "per_sample", "scale", "independent_calls", "eval_identity", "p_zero", "bad_p")
DROPBLOCK_PROPERTIES = ("drop_rate", "blocks", "mean", "independent_calls", "eval_identity", "p_zero", "bad_p")
_FEATURES = 16  # elements per DropPath sample
_BATCH, _CHANNELS = 32, 4  # DropBlock inputs: (32, 4, size, size)


def _check_p_values(p_values: Any) -> tuple[float, ...]:
    if isinstance(p_values, (str, bytes)) or not isinstance(p_values, Sequence) or not p_values:
        raise invalid_argument("p_values", "a non-empty sequence of floats in (0, 1)", p_values)
    return tuple(check_float("p_values", p, low=0.0, high=1.0, low_open=True, high_open=True) for p in p_values)


def _run_checks(
    session: Session,
    checks: dict[str, Callable[[Any], CheckResult]],
    report: ConformanceReport,
    seed: int,
    device: torch.device,
) -> ConformanceReport:
    with exit_refused(report.target):  # a target calling sys.exit is refused, never an exit 0
        for check_name, check in checks.items():
            report.checks.append(_guarded(check_name, check)(session))
    return report


def _forked(seed: int, device: torch.device) -> Any:
    devices = [device] if device.type == "cuda" else []
    return torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda")


# -- DropPath ------------------------------------------------------------------------------


def _samples_kept(y: torch.Tensor) -> torch.Tensor:
    """Per sample: True when anything of it survived."""
    return (y != 0).flatten(1).any(1)


def _dp_keep_rate(s: Session) -> CheckResult:
    n = s.x64.shape[0]
    rates = [_samples_kept(s.output(p)).double().mean().item() for p in s.p_values]
    ses = [math.sqrt(p * (1 - p) / n) for p in s.p_values]
    zs = [(k - (1 - p)) / se for k, p, se in zip(rates, s.p_values, ses)]
    measured = f"{fmt(rates)} of samples (max |z| {max(abs(z) for z in zs):.3g})"
    expected = f"1-p = {fmt([1 - p for p in s.p_values], 'g')}, |z| <= {Z_MAX:g}"
    if all(abs(z) <= Z_MAX for z in zs):
        return CheckResult("keep_rate", Verdict.PASS, measured, expected)
    if all(abs(k - p) <= Z_MAX * se for k, p, se in zip(rates, s.p_values, ses)):
        why = "keep rate ≈ p, not 1-p: looks like p is used as the keep probability (timm's drop_prob is the drop probability)"
    elif min(rates) > 1 - 1e-9:
        why = "every sample keeps something: elements are dropped one by one, not whole samples (see per_sample)"
    else:
        worst = max(range(len(zs)), key=lambda i: abs(zs[i]))
        why = f"at p={s.p_values[worst]} {rates[worst]:.4f} of the samples survive, {abs(zs[worst]):.3g} standard errors from 1-p"
    return CheckResult("keep_rate", Verdict.FAIL, measured, expected, why)


def _dp_per_sample(s: Session) -> CheckResult:
    mixed = []
    for p in s.p_values:
        kept = (s.output(p) != 0).flatten(1).double().mean(1)
        mixed.append(((kept > 0) & (kept < 1)).double().mean().item())
    measured = f"{fmt(mixed)} of samples partly dropped"
    expected = "0: each sample kept or dropped whole"
    if max(mixed) == 0.0:
        return CheckResult("per_sample", Verdict.PASS, measured, expected)
    why = (
        "samples are partly dropped: the mask must have one value per sample, shape (N, 1, ..., 1); "
        "an element-wise mask is dropout, not drop path"
    )
    return CheckResult("per_sample", Verdict.FAIL, measured, expected, why)


def _dp_independent_calls(s: Session) -> CheckResult:
    n = s.x64.shape[0]
    agreements, expectations, zs = [], [], []
    for p in s.p_values:
        a, b = _samples_kept(s.run(p, s.x64)), _samples_kept(s.run(p, s.x64))
        ka, kb = a.double().mean().item(), b.double().mean().item()
        q = ka * kb + (1 - ka) * (1 - kb)
        if q >= 1.0:
            continue
        agree = (a == b).double().mean().item()
        agreements.append(agree)
        expectations.append(q)
        zs.append((agree - q) / math.sqrt(q * (1 - q) / n))
    if not zs:
        return CheckResult("independent_calls", Verdict.NA, "keep rate 0 or 1", "", "nothing random to compare")
    measured = f"agree {fmt(agreements)} (max |z| {max(abs(z) for z in zs):.3g})"
    expected = f"k²+(1-k)² = {fmt(expectations)}, |z| <= {Z_MAX:g}"
    if all(abs(z) <= Z_MAX for z in zs):
        return CheckResult("independent_calls", Verdict.PASS, measured, expected)
    why = "two calls dropped the same samples: the mask is drawn once and reused (or the generator is reseeded)"
    if max(agreements) < 1.0:
        why = "the sample masks of two calls are not independent (they agree more or less often than chance)"
    return CheckResult("independent_calls", Verdict.FAIL, measured, expected, why)


_DROPPATH_CHECKS: dict[str, Callable[[Any], CheckResult]] = dict(
    keep_rate=_dp_keep_rate,
    per_sample=_dp_per_sample,
    scale=_scale,
    independent_calls=_dp_independent_calls,
    eval_identity=_eval_identity,
    p_zero=_p_zero,
    bad_p=_bad_p,
)


def check_droppath(
    target: Any,
    *,
    p_values: Sequence[float] = (0.1, 0.5, 0.8),
    samples: int = 8192,
    seed: int = 0,
    device: torch.device | str = "cpu",
    name: str | None = None,
) -> ConformanceReport:
    """Put a DropPath (stochastic depth) implementation through its statistical contract.

    Args:
        target: a Module class ``M(p)`` (e.g. ``timm.layers.DropPath``), a
            factory ``p -> Module`` or a function ``f(x, p[, training])``.
        p_values: drop probabilities to test, each strictly between 0 and 1.
        samples: samples per input ``(samples, 16)``; the binomial standard
            error of the keep rate is ``sqrt(p(1-p)/samples)``.
        seed: seeds torch's global generators for the run (restored afterwards).
        device: where the inputs live.
        name: the target's name in the report (default: module.qualname).

    Returns:
        A :class:`ConformanceReport` with one check per name in ``DROPPATH_PROPERTIES``.
    """
    adapted = DropoutTarget(target)
    p_tuple = _check_p_values(p_values)
    samples = check_int("samples", samples, low=64)
    seed = check_int("seed", seed)
    device = _concrete(torch.device(device))
    report = ConformanceReport(name or describe_target(target), "droppath", adapted.convention)
    with _forked(seed, device):
        torch.manual_seed(seed)
        session = Session(adapted, p_tuple, samples * _FEATURES, device, shape=(samples, _FEATURES))
        return _run_checks(session, _DROPPATH_CHECKS, report, seed, device)


# -- DropBlock -------------------------------------------------------------------------------


class _BlockSession(Session):
    """A session that also runs each ``p`` several times (independent draws) and knows the block size."""

    def __init__(self, target: DropoutTarget, p_values: tuple[float, ...], device: torch.device, **kw: Any) -> None:
        size, self.block_size, self.calls = kw["size"], kw["block_size"], kw["calls"]
        shape = (_BATCH, _CHANNELS, size, size)
        super().__init__(target, p_values, math.prod(shape), device, shape=shape)
        self._repeats: dict[float, list[torch.Tensor]] = {}

    def repeats(self, p: float) -> list[torch.Tensor]:
        """``calls`` training outputs at ``p`` (the first is :meth:`output`'s)."""
        if p not in self._repeats:
            self._repeats[p] = [self.output(p)] + [self.run(p, self.x64) for _ in range(self.calls - 1)]
        return self._repeats[p]


def _rate_bounds(p: float, b: int, size: int) -> tuple[float, float]:
    from ..regularizers.drop_block import drop_block_gamma

    bb = min(b, size)
    gamma = drop_block_gamma(p, b, size, size)
    return p * (1 - gamma * bb * bb / 2), p


def _db_drop_rate(s: _BlockSession) -> CheckResult:
    size = s.x64.shape[-1]
    rates, lows, worst_z, why = [], [], 0.0, ""
    for p in s.p_values:
        fractions = torch.tensor([(y == 0).double().mean().item() for y in s.repeats(p)], dtype=torch.float64)
        rate = fractions.mean().item()
        se = max(fractions.std().item() / math.sqrt(len(fractions)), 1e-12)
        low, high = _rate_bounds(p, s.block_size, size)
        rates.append(rate)
        lows.append(low)
        z = (rate - high) / se if rate > high else (low - rate) / se if rate < low else 0.0
        if z > worst_z:
            worst_z = z
            if abs(rate - (1 - p)) < 0.05 * (1 - p):
                why = f"at p={p} it drops {rate:.4f} ≈ 1-p: looks like p is used as the keep probability"
            elif rate > high:
                why = (
                    f"at p={p} it drops {rate:.4f} = {rate / p:.3g}·p, more than p: looks like block seeds are drawn "
                    "over the whole map at the γ meant for the valid seed region (Ghiasi et al. draw them only "
                    "where a whole block fits)"
                )
            else:
                why = f"at p={p} it drops only {rate:.4f}, below DropBlock's lower bound {low:.4f}: the seed rate γ is too low"
    measured = f"{fmt(rates)} ({f'{worst_z:.3g} SE outside' if worst_z > 0 else 'inside'})"
    expected = "[" + ", ".join(f"{lo:.4f}..{p:g}" for lo, p in zip(lows, s.p_values)) + f"], |z| <= {Z_MAX:g}"
    if worst_z <= Z_MAX:
        return CheckResult("drop_rate", Verdict.PASS, measured, expected)
    return CheckResult("drop_rate", Verdict.FAIL, measured, expected, why)


def _unexplained_drops(dropped: torch.Tensor, b: int) -> torch.Tensor:
    """Dropped units of ``(M, H, W)`` maps that lie in no fully dropped ``b x b`` square
    (a morphological opening; the outside of the map counts as dropped, so squares
    cut by the edge are allowed)."""
    h, w = dropped.shape[-2:]
    bh, bw = min(b, h), min(b, w)
    d = dropped.to(torch.float32).unsqueeze(1)
    padded = F.pad(d, (bw - 1, bw - 1, bh - 1, bh - 1), value=1.0)
    squares = -F.max_pool2d(-padded, (bh, bw), stride=1)  # 1 where a whole square is dropped
    covered = F.max_pool2d(F.pad(squares, (bw - 1, bw - 1, bh - 1, bh - 1)), (bh, bw), stride=1)
    covered = covered[..., bh - 1 : bh - 1 + h, bw - 1 : bw - 1 + w].squeeze(1)
    return dropped & (covered == 0)


def _db_blocks(s: _BlockSession) -> CheckResult:
    shares = []
    for p in s.p_values:
        y = s.output(p)
        dropped = (y == 0).flatten(0, 1)
        count = int(dropped.sum().item())
        if count == 0:
            return CheckResult(
                "blocks",
                Verdict.FAIL,
                "nothing dropped",
                f"{s.block_size}x{s.block_size} squares",
                f"nothing was dropped at p={p}",
            )
        shares.append(_unexplained_drops(dropped, s.block_size).sum().item() / count)
    b = s.block_size
    measured = f"{fmt(shares)} of dropped units outside any dropped {b}x{b} square"
    expected = f"0: dropped units form {b}x{b} squares"
    if max(shares) == 0.0:
        return CheckResult("blocks", Verdict.PASS, measured, expected)
    why = (
        f"dropped units do not form {b}x{b} squares: units are dropped one by one (dropout), "
        f"or the blocks are smaller than block_size={b}"
    )
    return CheckResult("blocks", Verdict.FAIL, measured, expected, why)


def _db_mean(s: _BlockSession) -> CheckResult:
    x_mean = s.x64.mean().item()
    ratios, zs = [], []
    for p in s.p_values:
        diffs = torch.tensor([y.double().mean().item() - x_mean for y in s.repeats(p)], dtype=torch.float64)
        se = max(diffs.std().item() / math.sqrt(len(diffs)), 1e-12 * abs(x_mean))
        ratios.append(1 + diffs.mean().item() / x_mean)
        zs.append(diffs.mean().item() / se)
    measured = f"ratio {fmt(ratios)} (max |z| {max(abs(z) for z in zs):.3g})"
    expected = f"ratio 1, |z| <= {Z_MAX:g}"
    if all(abs(z) <= Z_MAX for z in zs):
        return CheckResult("mean", Verdict.PASS, measured, expected)
    why = (
        f"output mean is {fmt(ratios, '.3g')} × the input mean at p = {fmt(s.p_values, 'g')}: "
        "the kept units must be rescaled (by numel / kept) so that the mean is preserved"
    )
    return CheckResult("mean", Verdict.FAIL, measured, expected, why)


def _db_independent_calls(s: _BlockSession) -> CheckResult:
    same = []
    for p in s.p_values:
        first, second = s.repeats(p)[:2]
        if bool(((first == 0) == (second == 0)).all()):
            same.append(p)
    if not same:
        return CheckResult("independent_calls", Verdict.PASS, "masks differ", "a new mask per call")
    why = f"at p = {fmt(same, 'g')} two calls dropped exactly the same units: the mask is drawn once and reused"
    return CheckResult("independent_calls", Verdict.FAIL, "identical masks", "a new mask per call", why)


_DROPBLOCK_CHECKS: dict[str, Callable[[Any], CheckResult]] = dict(
    drop_rate=_db_drop_rate,
    blocks=_db_blocks,
    mean=_db_mean,
    independent_calls=_db_independent_calls,
    eval_identity=_eval_identity,
    p_zero=_p_zero,
    bad_p=_bad_p,
)


def _takes_block_size(target: Any) -> bool:
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False
    return "block_size" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def check_dropblock(
    target: Any,
    *,
    p_values: Sequence[float] = (0.05, 0.1, 0.2),
    block_size: int = 3,
    size: int = 16,
    calls: int = 64,
    seed: int = 0,
    device: torch.device | str = "cpu",
    name: str | None = None,
) -> ConformanceReport:
    """Put a DropBlock implementation through its statistical contract.

    Args:
        target: a Module class ``M(p)`` (e.g. ``timm.layers.DropBlock2d``), a
            factory ``p -> Module`` or a function ``f(x, p[, training])``;
            ``block_size`` is passed by keyword when it takes one.
        p_values: drop probabilities to test, each strictly between 0 and 1.
        block_size: the side ``b`` of the dropped squares, ``>= 1``.
        size: the feature maps' height and width, ``>= block_size``.
        calls: independent calls per ``p`` (the standard errors come from
            their spread), ``>= 8``.
        seed: seeds torch's global generators for the run (restored afterwards).
        device: where the inputs live.
        name: the target's name in the report (default: module.qualname).

    Returns:
        A :class:`ConformanceReport` with one check per name in ``DROPBLOCK_PROPERTIES``.
    """
    block_size = check_int("block_size", block_size, low=1)
    size = check_int("size", size, low=block_size)
    calls = check_int("calls", calls, low=8)
    bound = functools.partial(target, block_size=block_size) if _takes_block_size(target) else target
    adapted = DropoutTarget(bound)
    if bound is not target:
        adapted.convention = adapted.convention.replace("(p", f"(p, block_size={block_size}", 1)
    p_tuple = _check_p_values(p_values)
    seed = check_int("seed", seed)
    device = _concrete(torch.device(device))
    report = ConformanceReport(name or describe_target(target), "dropblock", adapted.convention)
    with _forked(seed, device):
        torch.manual_seed(seed)
        session = _BlockSession(adapted, p_tuple, device, size=size, block_size=block_size, calls=calls)
        return _run_checks(session, _DROPBLOCK_CHECKS, report, seed, device)
