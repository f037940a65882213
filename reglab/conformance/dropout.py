"""The statistical contract of inverted dropout, checked on anyone's implementation.

Convention: ``p`` is the **drop** probability (PyTorch's). A conforming
dropout, in training, keeps each element independently with probability
``1 - p`` and scales survivors by exactly ``1 / (1 - p)``; in evaluation it is
the identity. Each property below is one named check:

========================  =====================================================
``keep_rate``             fraction of non-zero outputs is ``1 - p`` (|z| <= 5)
``mean``                  output mean equals input mean (|z| <= 5 empirical standard errors)
``scale``                 survivors are ``x / (1 - p)`` (rel. 1e-6 in float32, 8 ulp in float64)
``independent_calls``     two calls agree on ``k² + (1-k)²`` of elements (k: measured keep rate)
``independent_elements``  neighbouring mask values are uncorrelated (along both dims)
``eval_identity``         ``training=False`` / ``.eval()`` returns the input's values
``p_zero``                ``p = 0`` is the identity in training
``p_one``                 ``p = 1`` gives zeros, or is rejected with an exception
``gradient``              the gradient is masked and scaled like the output
``device_dtype``          float32 and float64 inputs keep their dtype, device and shape
``bad_p``                 ``p`` in (-0.1, 1.5, nan) raises an exception
========================  =====================================================

Inputs are 2-D, ``(n // 256, 256)``, with values in [1, 2) so that an output
is zero exactly when the element was dropped. Tolerances are 5 standard
errors of the binomial (or of the mean), so a conforming implementation fails
a check about once in 3.5 million; the seed is fixed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..core.checks import check_float, check_int, invalid_argument
from ._report import CheckResult, ConformanceReport, Verdict
from ._report import describe_exception as _describe
from ._sampling import COLUMNS, Raised, Session, fmt
from ._target import DropoutTarget, _concrete, describe_target, exit_refused

__all__ = ["check_dropout", "DROPOUT_PROPERTIES"]

DROPOUT_PROPERTIES = (
    "keep_rate",
    "mean",
    "scale",
    "independent_calls",
    "independent_elements",
    "eval_identity",
    "p_zero",
    "p_one",
    "gradient",
    "device_dtype",
    "bad_p",
)
Z_MAX = 5.0
_F32_REL = 1e-6
_F64_REL = 8 * torch.finfo(torch.float64).eps
_BAD_P = (-0.1, 1.5, float("nan"))


def _guarded(name: str, check: Callable[[Session], CheckResult]) -> Callable[[Session], CheckResult]:
    def run(session: Session) -> CheckResult:
        try:
            return check(session)
        except Raised as exc:
            return CheckResult(name, Verdict.FAIL, "raised", "a tensor", str(exc))
        except Exception as exc:
            return CheckResult(name, Verdict.FAIL, "unusable output", "", f"checking it raised {_describe(exc)}")

    return run


def _keep_rate(s: Session) -> CheckResult:
    rates = [s.kept(p).double().mean().item() for p in s.p_values]
    ses = [math.sqrt(p * (1 - p) / s.n) for p in s.p_values]
    zs = [(k - (1 - p)) / se for k, p, se in zip(rates, s.p_values, ses)]
    measured = f"{fmt(rates)} (max |z| {max(abs(z) for z in zs):.3g})"
    expected = f"1-p = {fmt([1 - p for p in s.p_values], 'g')}, |z| <= {Z_MAX:g}"
    if all(abs(z) <= Z_MAX for z in zs):
        return CheckResult("keep_rate", Verdict.PASS, measured, expected)
    flipped = [abs(k - p) <= Z_MAX * se for k, p, se in zip(rates, s.p_values, ses)]
    normal = [1 - 0.5 * (1 + math.erf(p / math.sqrt(2))) for p in s.p_values]  # P(Z > p)
    if all(flipped) and any(abs(p - 0.5) * 2 > 5 * se for p, se in zip(s.p_values, ses)):
        why = (
            "keep rate ≈ p, not 1-p: looks like p is used as the keep probability (PyTorch's p is the drop probability)"
        )
    elif all(abs(k - q) <= Z_MAX * se for k, q, se in zip(rates, normal, ses)):
        why = (
            "keep rate ≈ P(Z > p) for Z ~ N(0, 1): the mask is drawn from a normal distribution "
            "(torch.randn(...) > p), it must come from a uniform draw (torch.rand(...) >= p)"
        )
    else:
        worst = max(range(len(zs)), key=lambda i: abs(zs[i]))
        why = f"at p={s.p_values[worst]} the keep rate is {rates[worst]:.4f}, {abs(zs[worst]):.3g} standard errors from 1-p"
    return CheckResult("keep_rate", Verdict.FAIL, measured, expected, why)


def _mean(s: Session) -> CheckResult:
    x = s.x64
    ratios, zs = [], []
    for p in s.p_values:
        y = s.output(p)
        # Empirical SE of mean(y - x): the mask is the only randomness, whatever the keep rate.
        se = max((y - x).std().item() / math.sqrt(s.n), 1e-300)
        ratios.append(y.mean().item() / x.mean().item())
        zs.append((y.mean().item() - x.mean().item()) / se)
    measured = f"ratio {fmt(ratios)} (max |z| {max(abs(z) for z in zs):.3g})"
    expected = f"ratio 1, |z| <= {Z_MAX:g}"
    if all(abs(z) <= Z_MAX for z in zs):
        return CheckResult("mean", Verdict.PASS, measured, expected)
    if all(abs(r - (1 - p)) < 0.02 for r, p in zip(ratios, s.p_values)):
        why = (
            "output mean ≈ (1-p) × input mean: survivors are not scaled by 1/(1-p) "
            "(vanilla dropout; the eval output would then have to be scaled by 1-p)"
        )
    else:
        why = f"output mean is {fmt(ratios, '.3g')} × the input mean at p = {fmt(s.p_values, 'g')}; inverted dropout keeps it"
    return CheckResult("mean", Verdict.FAIL, measured, expected, why)


def _scale(s: Session) -> CheckResult:
    worst = {torch.float32: 0.0, torch.float64: 0.0}
    why = ""
    for dtype, tol in ((torch.float64, _F64_REL), (torch.float32, _F32_REL)):
        x = s.x64.to(dtype)
        for p in s.p_values:
            y = s.output(p, dtype)
            kept = y != 0
            if not kept.any():
                worst[dtype] = math.inf
                why = why or f"no element survived at p={p} ({dtype}), so no scale can be measured"
                continue
            factor = y[kept].double() / x[kept].double()
            target = 1.0 / (1.0 - p)
            rel = (factor / target - 1).abs().max().item()
            worst[dtype] = max(worst[dtype], rel)
            if rel > tol and not why:
                median = factor.median().item()
                spread = (factor.max() - factor.min()).item() / target
                if abs(median - 1) < 1e-6:
                    why = f"survivors are not rescaled: scale 1 at p={p}, expected 1/(1-p) = {target:.6g}"
                elif abs(median * p - 1) < 1e-5:
                    why = f"survivors are scaled by 1/p = {median:.6g} at p={p}: looks like p is used as the keep probability"
                elif spread > tol:
                    why = f"survivors are not all scaled by one factor at p={p} (from {factor.min():.6g} to {factor.max():.6g})"
                else:
                    why = f"survivors are scaled by {median:.9g} at p={p}, expected 1/(1-p) = {target:.9g} ({dtype})"
    measured = f"max rel err {worst[torch.float64]:.2g} (f64), {worst[torch.float32]:.2g} (f32)"
    expected = f"1/(1-p); rel err <= {_F64_REL:.2g} (f64), <= {_F32_REL:g} (f32)"
    verdict = Verdict.FAIL if why else Verdict.PASS
    return CheckResult("scale", verdict, measured, expected, why)


def _independent_calls(s: Session) -> CheckResult:
    agreements, expectations, zs = [], [], []
    for p in s.p_values:
        a, b = s.run(p, s.x64) != 0, s.run(p, s.x64) != 0
        ka, kb = a.double().mean().item(), b.double().mean().item()
        q = ka * kb + (1 - ka) * (1 - kb)
        agree = (a == b).double().mean().item()
        if q >= 1.0:  # nothing random to compare (keep rate 0 or 1)
            continue
        agreements.append(agree)
        expectations.append(q)
        zs.append((agree - q) / math.sqrt(q * (1 - q) / s.n))
    if not zs:
        return CheckResult("independent_calls", Verdict.NA, "keep rate 0 or 1", "", "nothing random to compare")
    measured = f"agree {fmt(agreements)} (max |z| {max(abs(z) for z in zs):.3g})"
    expected = f"k²+(1-k)² = {fmt(expectations)}, |z| <= {Z_MAX:g}"
    if all(abs(z) <= Z_MAX for z in zs):
        return CheckResult("independent_calls", Verdict.PASS, measured, expected)
    if max(agreements) == 1.0:
        why = (
            "two calls dropped exactly the same elements: the mask is drawn once and reused "
            "(or the generator is reseeded on every call)"
        )
    else:
        why = "the masks of two calls are not independent (they agree more or less often than chance)"
    return CheckResult("independent_calls", Verdict.FAIL, measured, expected, why)


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().flatten(), b.double().flatten()
    a, b = a - a.mean(), b - b.mean()
    denominator = math.sqrt((a * a).sum().item() * (b * b).sum().item())
    return (a * b).sum().item() / denominator if denominator > 0 else math.nan


def _independent_elements(s: Session) -> CheckResult:
    worst_z, worst = 0.0, ""
    correlations = []
    for p in s.p_values:
        m = s.kept(p)
        for dim, (a, b) in (("-1", (m[:, :-1], m[:, 1:])), ("0", (m[:-1], m[1:]))):
            r = _correlation(a, b)
            if math.isnan(r):
                continue
            correlations.append(r)
            z = abs(r) * math.sqrt(a.numel())
            if z > worst_z:
                worst_z, worst = z, f"neighbours along dim {dim} at p={p} have correlation {r:.3g}"
    if not correlations:
        return CheckResult("independent_elements", Verdict.NA, "constant mask", "", "nothing random to compare")
    measured = f"max |r| {max(abs(r) for r in correlations):.3g} (max |z| {worst_z:.3g})"
    expected = f"r ≈ 0, |z| <= {Z_MAX:g}"
    if worst_z <= Z_MAX:
        return CheckResult("independent_elements", Verdict.PASS, measured, expected)
    why = f"{worst}: the elements are not dropped independently (a mask shared along a dimension?)"
    return CheckResult("independent_elements", Verdict.FAIL, measured, expected, why)


def _eval_identity(s: Session) -> CheckResult:
    if not s.target.has_eval:
        return CheckResult(
            "eval_identity",
            Verdict.NA,
            "",
            "y == x",
            "the function has no `training` parameter: it was tested in training mode only",
        )
    p = s.p_values[len(s.p_values) // 2]
    x = s.x64[:64]
    y = s.run(p, x, training=False)
    if torch.equal(y, x):
        return CheckResult("eval_identity", Verdict.PASS, "y == x", "y == x")
    zeroed = ((y == 0) & (x != 0)).double().mean().item()
    measured = f"max |y-x| {(y - x).abs().max().item():.3g}, {zeroed:.2f} zeroed"
    why = (
        f"in eval mode (training=False) the output differs from the input ({zeroed:.0%} of elements zeroed): "
        "dropout is still applied; a Module's forward must follow self.training"
    )
    return CheckResult("eval_identity", Verdict.FAIL, measured, "y == x", why)


def _p_zero(s: Session) -> CheckResult:
    x = s.x64[:64]
    y = s.run(0.0, x)
    if torch.equal(y, x):
        return CheckResult("p_zero", Verdict.PASS, "y == x", "y == x")
    measured = f"max |y-x| {(y - x).abs().max().item():.3g}" if not y.isnan().any() else "NaN in output"
    why = "p = 0 must be the identity in training mode (nothing dropped, scale 1)"
    if y.isnan().any():
        why = "p = 0 gives NaN (0/0 from scaling by 1/p?): looks like p is used as the keep probability"
    return CheckResult("p_zero", Verdict.FAIL, measured, "y == x", why)


def _p_one(s: Session) -> CheckResult:
    x = s.x64[:64]
    expected = "zeros, or an exception"
    try:
        y = s.run(1.0, x)
    except Raised as exc:
        cause = exc.__cause__
        if isinstance(cause, (ZeroDivisionError, FloatingPointError)):
            return CheckResult(
                "p_one",
                Verdict.FAIL,
                "raised",
                expected,
                f"p = 1 divides by zero ({_describe(cause)}): return zeros or reject p = 1 explicitly",
            )
        return CheckResult("p_one", Verdict.PASS, "rejected", expected, f"p = 1 is rejected ({exc}); accepted")
    if y.isnan().any():
        return CheckResult(
            "p_one",
            Verdict.FAIL,
            "NaN in output",
            expected,
            "p = 1 gives NaN (0 × inf from scaling by 1/(1-p)): return zeros or reject p = 1",
        )
    if bool((y == 0).all()):
        return CheckResult("p_one", Verdict.PASS, "zeros", expected, "p = 1 gives zeros")
    kept = (y != 0).double().mean().item()
    why = f"p = 1 keeps {kept:.0%} of the elements; it must drop all of them"
    if torch.equal(y, x):
        why = "p = 1 is the identity: looks like p is used as the keep probability"
    return CheckResult("p_one", Verdict.FAIL, f"{kept:.2f} kept", expected, why)


def _gradient(s: Session) -> CheckResult:
    worst = 0.0
    x = s.x64[: max(2, 4096 // COLUMNS)]
    g = torch.rand(x.shape, dtype=x.dtype, device=x.device) + 0.5
    for p in s.p_values:
        leaf = x.clone().requires_grad_(True)
        try:
            y = s.bound(p)(leaf * 1.0, True)  # a non-leaf input, so in-place implementations work
        except Exception as exc:
            raise Raised(f"calling it with p={p} on an input that requires grad raised {_describe(exc)}") from exc
        if not isinstance(y, torch.Tensor) or not y.requires_grad:
            return CheckResult(
                "gradient",
                Verdict.FAIL,
                "no grad_fn",
                "g·mask/(1-p)",
                "the output does not depend differentiably on the input: no gradient flows",
            )
        (y * g).sum().backward()
        if leaf.grad is None:
            return CheckResult("gradient", Verdict.FAIL, "no gradient", "g·mask/(1-p)", "no gradient reaches the input")
        expected = g * (y.detach() / x)
        dropped = y.detach() == 0
        if (leaf.grad[dropped] != 0).any():
            return CheckResult(
                "gradient",
                Verdict.FAIL,
                "non-zero where dropped",
                "g·mask/(1-p)",
                f"at p={p} the gradient flows through dropped elements: it must use the output's mask",
            )
        rel = ((leaf.grad - expected).abs() / expected.abs().clamp_min(1e-300))[~dropped]
        worst = max(worst, rel.max().item() if rel.numel() else 0.0)
    measured, expected_text = f"max rel err {worst:.2g}", f"g·mask/(1-p), rel err <= {_F64_REL:.2g}"
    if worst <= _F64_REL:
        return CheckResult("gradient", Verdict.PASS, measured, expected_text)
    return CheckResult(
        "gradient",
        Verdict.FAIL,
        measured,
        expected_text,
        "the gradient of the kept elements is not scaled like the output (it must be g / (1-p))",
    )


def _device_dtype(s: Session) -> CheckResult:
    p = s.p_values[len(s.p_values) // 2]
    problems = []
    for dtype in (torch.float32, torch.float64):
        y = s.output(p, dtype)
        if y.dtype != dtype:
            problems.append(f"{str(dtype)[6:]} input gave {str(y.dtype)[6:]} output")
        if y.device != s.device:
            problems.append(f"output on {y.device} for input on {s.device}")
    measured = "kept" if not problems else "; ".join(problems)
    expected = f"float32, float64 on {s.device}"
    if not problems:
        return CheckResult("device_dtype", Verdict.PASS, measured, expected)
    return CheckResult(
        "device_dtype",
        Verdict.FAIL,
        measured,
        expected,
        "the output must keep the input's dtype and device (draw the mask with device=x.device)",
    )


def _bad_p(s: Session) -> CheckResult:
    x = s.x64[:4]
    accepted, kinds = [], set()
    for p in _BAD_P:
        try:
            s.run(p, x)
        except Raised as exc:
            kinds.add(type(exc.__cause__).__name__ if exc.__cause__ is not None else "error")
            continue
        accepted.append(f"p={p}")
    expected = "an exception for p = -0.1, 1.5, nan"
    if accepted:
        return CheckResult(
            "bad_p",
            Verdict.FAIL,
            f"accepted {', '.join(accepted)}",
            expected,
            f"{', '.join(accepted)} ran without an error: p must be checked to be in [0, 1]",
        )
    measured = f"rejected ({', '.join(sorted(kinds))})"
    note = ""
    if "AssertionError" in kinds:
        note = "rejected by `assert`, which python -O removes; raising ValueError is safer"
    return CheckResult("bad_p", Verdict.PASS, measured, expected, note)


_CHECKS = dict(
    keep_rate=_keep_rate,
    mean=_mean,
    scale=_scale,
    independent_calls=_independent_calls,
    independent_elements=_independent_elements,
    eval_identity=_eval_identity,
    p_zero=_p_zero,
    p_one=_p_one,
    gradient=_gradient,
    device_dtype=_device_dtype,
    bad_p=_bad_p,
)


def check_dropout(
    target: Any,
    *,
    p_values: Sequence[float] = (0.1, 0.5, 0.8),
    n: int = 2**18,
    seed: int = 0,
    device: torch.device | str = "cpu",
    name: str | None = None,
) -> ConformanceReport:
    """Put a dropout implementation through the statistical contract of inverted dropout.

    Args:
        target: a function ``f(x, p[, training])``, a ``torch.nn.Module`` class
            ``M(p)`` or a factory ``p -> Module`` (see :mod:`reglab.conformance`).
        p_values: drop probabilities to test, each strictly between 0 and 1.
        n: elements per sample (rounded down to a multiple of 256); the
            binomial standard error of the keep rate is ``sqrt(p(1-p)/n)``.
        seed: seeds torch's global generators for the run (their state is
            restored afterwards).
        device: where the inputs live.
        name: the target's name in the report (default: module.qualname).

    Returns:
        A :class:`ConformanceReport` with one check per name in ``DROPOUT_PROPERTIES``.
    """
    adapted = DropoutTarget(target)
    if isinstance(p_values, (str, bytes)) or not isinstance(p_values, Sequence) or not p_values:
        raise invalid_argument("p_values", "a non-empty sequence of floats in (0, 1)", p_values)
    p_tuple = tuple(check_float("p_values", p, low=0.0, high=1.0, low_open=True, high_open=True) for p in p_values)
    n = check_int("n", n, low=2 * COLUMNS)
    seed = check_int("seed", seed)
    device = _concrete(torch.device(device))
    report = ConformanceReport(name or describe_target(target), "dropout", adapted.convention)
    devices = [device] if device.type == "cuda" else []
    with (
        exit_refused(report.target),
        torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"),
    ):
        torch.manual_seed(seed)
        session = Session(adapted, p_tuple, n, device)
        for check_name, check in _CHECKS.items():
            report.checks.append(_guarded(check_name, check)(session))
    return report
