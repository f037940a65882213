"""The contract of L2 and L1 weight penalties, checked on anyone's implementation.

Conventions (reglab's, and the ones SGD's ``weight_decay`` implies):

- L2: ``penalty = λ/2 · Σ w²``, so its gradient is ``λ · w``, exactly what
  ``torch.optim.SGD(weight_decay=λ)`` adds. A penalty ``λ · Σ w²`` is named as
  such: twice that convention.
- L1: ``penalty = λ · Σ |w|``, subgradient ``λ · sign(w)`` (any value in
  ``[-λ, λ]`` at ``w = 0``).
- Given a model, only weights are penalized by default: not biases, not
  normalisation weights (the tensors with ``dim < 2``).

Properties, each one named check: ``value``, ``gradient``, ``bias_excluded``
(the model's penalty equals the target's own penalty of the model's weights
alone; N.A. when the target does not take a model), ``device_dtype`` and
``bad_lambda`` (λ = -0.1 and NaN raise an exception). Values are compared in
float64 with a relative tolerance of 1e-12.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..core.checks import check_choice, check_float, check_int
from ._report import CheckResult, ConformanceReport, Verdict
from ._report import describe_exception as _describe
from ._target import PenaltyTarget, _concrete, describe_target, exit_refused

__all__ = ["check_penalty", "PENALTY_PROPERTIES"]

PENALTY_PROPERTIES = ("value", "gradient", "bias_excluded", "device_dtype", "bad_lambda")
_REL = 1e-12
_BAD_LAMBDA = (-0.1, float("nan"))


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= _REL * max(abs(a), abs(b), 1e-300)


def _candidates(kind: str, lam: float, tensors: Sequence[torch.Tensor]) -> dict[str, float]:
    """Formulas a penalty may compute, the expected one first, each with its name."""
    s2 = sum((w.detach().double() ** 2).sum().item() for w in tensors)
    s1 = sum(w.detach().double().abs().sum().item() for w in tensors)
    if kind == "l2":
        return {
            "λ/2·Σw²": lam / 2 * s2,
            "λ·Σw², twice reglab's/SGD's convention (SGD's weight_decay=λ is the gradient of λ/2·Σw²)": lam * s2,
            "λ·‖w‖, the norm, not half its square": lam * math.sqrt(s2),
            "λ·Σ|w|, an L1 penalty": lam * s1,
        }
    return {
        "λ·Σ|w|": lam * s1,
        "λ/2·Σ|w|, half the L1 convention": lam / 2 * s1,
        "λ/2·Σw², an L2 penalty": lam / 2 * s2,
        "λ·Σw², an L2 penalty": lam * s2,
    }


def _as_float(value: Any) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TypeError(f"it returned a tensor of shape {tuple(value.shape)}, not a scalar")
        return float(value.detach().double().item())
    return float(value)


class _Session:
    def __init__(self, target: PenaltyTarget, kind: str, lam: float, device: torch.device) -> None:
        self.target, self.kind, self.lam, self.device = target, kind, lam, device
        self.weights = [
            torch.randn(6, 5, dtype=torch.float64, device=device),
            torch.randn(3, 6, dtype=torch.float64, device=device),
        ]
        self.weights[0][0, :2] = 0.0  # exact zeros: where L1's subgradient is any value in [-λ, λ]

    def call(self, params: Any, lam: float | None = None) -> Any:
        return self.target(params, self.lam if lam is None else lam)


def _value(s: _Session) -> CheckResult:
    candidates = _candidates(s.kind, s.lam, s.weights)
    name, expected = next(iter(candidates.items()))
    got = _as_float(s.call([w.clone() for w in s.weights]))
    measured, expected_text = f"{got:.10g}", f"{name} = {expected:.10g}"
    if _close(got, expected):
        return CheckResult("value", Verdict.PASS, measured, expected_text)
    for other, value in list(candidates.items())[1:]:
        if _close(got, value):
            return CheckResult("value", Verdict.FAIL, measured, expected_text, f"this is {other}")
    return CheckResult(
        "value",
        Verdict.FAIL,
        measured,
        expected_text,
        f"the penalty is {got / expected:.6g} × {name}" if expected else "the penalty is not zero",
    )


def _gradient(s: _Session) -> CheckResult:
    leaves = [w.clone().requires_grad_(True) for w in s.weights]
    out = s.call(leaves)
    formula = "λ·w" if s.kind == "l2" else "λ·sign(w)"
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        return CheckResult(
            "gradient",
            Verdict.FAIL,
            "no grad_fn",
            formula,
            "the penalty is not a differentiable tensor: it cannot be backpropagated",
        )
    grads = torch.autograd.grad(out.sum(), leaves, allow_unused=True)
    if any(g is None for g in grads):
        return CheckResult("gradient", Verdict.FAIL, "no gradient", formula, "some weights get no gradient")
    grad, w = torch.cat([g.flatten() for g in grads]), torch.cat([x.flatten() for x in s.weights])
    if s.kind == "l2":
        expected, free = s.lam * w, torch.zeros_like(w, dtype=torch.bool)
    else:
        expected, free = s.lam * torch.sign(w), w == 0
    error = ((grad - expected).abs() / expected.abs().clamp_min(1e-300))[~free].max().item()
    at_zero_ok = bool((grad[free].abs() <= s.lam * (1 + _REL)).all())
    measured = f"max rel err {error:.2g}" + ("" if at_zero_ok else ", |grad| > λ at w = 0")
    expected_text = f"{formula}, rel err <= {_REL:g}" + (", |g| <= λ at w = 0" if s.kind == "l1" else "")
    if error <= _REL and at_zero_ok:
        return CheckResult("gradient", Verdict.PASS, measured, expected_text)
    nonzero = expected != 0
    ratio = (grad[nonzero] / expected[nonzero]).median().item()
    if not at_zero_ok:
        why = "at w = 0 the subgradient must lie in [-λ, λ]"
    elif abs(ratio - 2) < 1e-9:
        why = f"the gradient is 2{formula}, twice what SGD's weight_decay=λ adds"
    else:
        why = f"the gradient is {ratio:.6g} × {formula}"
    return CheckResult("gradient", Verdict.FAIL, measured, expected_text, why)


def _model(device: torch.device) -> nn.Module:
    model = nn.Sequential(nn.Linear(5, 6), nn.LayerNorm(6), nn.ReLU(), nn.Linear(6, 3)).double().to(device)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    return model


def _bias_excluded(s: _Session) -> CheckResult:
    model = _model(s.device)
    try:
        got = _as_float(s.call(model))
    except Exception as exc:
        return CheckResult(
            "bias_excluded",
            Verdict.NA,
            "",
            "weights only",
            f"it does not take a model ({_describe(exc)}); pass it the weights yourself",
        )
    params = dict(model.named_parameters())
    groups = {
        "weights only": [p for p in params.values() if p.dim() >= 2],
        "weights and biases": [p for n, p in params.items() if p.dim() >= 2 or (n.endswith("bias") and n != "1.bias")],
        "weights and normalisation weights": [p for n, p in params.items() if p.dim() >= 2 or n.startswith("1.")],
        "every parameter": list(params.values()),
    }
    values = {name: next(iter(_candidates(s.kind, s.lam, tensors).values())) for name, tensors in groups.items()}
    # Judge the choice of parameters, not the factor (that is `value`'s job): scale the
    # convention by the target's own factor on the weights alone.
    try:
        own = _as_float(s.call([p.detach().clone() for p in groups["weights only"]]))
        factor = own / values["weights only"] if values["weights only"] else 1.0
    except Exception:
        factor = 1.0
    values = {name: factor * value for name, value in values.items()}
    measured = f"{got:.10g}"
    expected = f"weights only = {values['weights only']:.10g}"
    if _close(got, values["weights only"]):
        return CheckResult("bias_excluded", Verdict.PASS, measured, expected)
    for name, value in list(values.items())[1:]:
        if _close(got, value):
            return CheckResult(
                "bias_excluded",
                Verdict.FAIL,
                measured,
                expected,
                f"it penalizes {name}: by default biases and normalisation weights get no penalty",
            )
    return CheckResult(
        "bias_excluded",
        Verdict.FAIL,
        measured,
        expected,
        "the penalty of a model matches no choice of its parameters under the convention",
    )


def _device_dtype(s: _Session) -> CheckResult:
    problems = []
    for dtype in (torch.float32, torch.float64):
        out = s.call([w.to(dtype) for w in s.weights])
        if not isinstance(out, torch.Tensor):
            problems.append(f"returned a {type(out).__name__}, not a tensor")
            break
        if out.dtype != dtype:
            problems.append(f"{str(dtype)[6:]} weights gave {str(out.dtype)[6:]}")
        if out.device != s.device:
            problems.append(f"result on {out.device}")
    expected = f"a scalar tensor, float32/float64 on {s.device}"
    if not problems:
        return CheckResult("device_dtype", Verdict.PASS, "kept", expected)
    return CheckResult(
        "device_dtype",
        Verdict.FAIL,
        "; ".join(problems),
        expected,
        "the penalty must be a tensor of the weights' dtype on their device",
    )


def _bad_lambda(s: _Session) -> CheckResult:
    accepted, kinds = [], set()
    for lam in _BAD_LAMBDA:
        try:
            s.call([w.clone() for w in s.weights], lam)
        except Exception as exc:
            kinds.add(type(exc).__name__)
            continue
        accepted.append(f"λ={lam}")
    expected = "an exception for λ = -0.1, nan"
    if accepted:
        return CheckResult(
            "bad_lambda",
            Verdict.FAIL,
            f"accepted {', '.join(accepted)}",
            expected,
            f"{', '.join(accepted)} ran without an error: λ must be a float >= 0",
        )
    return CheckResult("bad_lambda", Verdict.PASS, f"rejected ({', '.join(sorted(kinds))})", expected)


_CHECKS: dict[str, Callable[[_Session], CheckResult]] = dict(
    value=_value,
    gradient=_gradient,
    bias_excluded=_bias_excluded,
    device_dtype=_device_dtype,
    bad_lambda=_bad_lambda,
)


def check_penalty(
    target: Any,
    *,
    kind: str = "l2",
    lam: float = 0.1,
    seed: int = 0,
    device: torch.device | str = "cpu",
    name: str | None = None,
) -> ConformanceReport:
    """Check an L2 or L1 penalty against reglab's conventions.

    Args:
        target: a function ``fn(params_or_model, lam)`` or a class ``P(lam)``
            whose instances take the parameters (see :mod:`reglab.conformance`).
        kind: ``"l2"`` (λ/2·Σw²) or ``"l1"`` (λ·Σ|w|).
        lam: the penalty strength used, > 0.
        seed: seeds torch's global generator for the run (restored afterwards).
        device: where the weights live.
        name: the target's name in the report.

    Returns:
        A :class:`ConformanceReport` with one check per name in ``PENALTY_PROPERTIES``.
    """
    adapted = PenaltyTarget(target)
    kind = check_choice("kind", kind, ("l2", "l1"))
    lam = check_float("lam", lam, low=0.0, low_open=True)
    seed = check_int("seed", seed)
    device = _concrete(torch.device(device))
    report = ConformanceReport(name or describe_target(target), f"penalty, {kind}", adapted.convention)
    devices = [device] if device.type == "cuda" else []
    with (
        exit_refused(report.target),
        torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"),
    ):
        torch.manual_seed(seed)
        session = _Session(adapted, kind, lam, device)
        for check_name, check in _CHECKS.items():
            try:
                report.checks.append(check(session))
            except Exception as exc:
                report.checks.append(CheckResult(check_name, Verdict.FAIL, "raised", "", f"it raised {_describe(exc)}"))
    return report
