"""Verdicts and the report the conformance checker returns.

A :class:`ConformanceReport` is a list of :class:`CheckResult` rows, one per
named property, each with a verdict (PASS, FAIL or N.A.), the measured
numbers, the expected range and a one-line explanation (what is wrong when it
fails, what was accepted or why it does not apply otherwise).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator

__all__ = ["Verdict", "CheckResult", "ConformanceReport", "describe_exception"]


class Verdict(str, enum.Enum):
    """The outcome of one property check."""

    PASS = "PASS"
    FAIL = "FAIL"
    NA = "N.A."

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One property of the contract, checked.

    Attributes:
        name: the property's short name, e.g. ``"keep_rate"``.
        verdict: PASS, FAIL or N.A.
        measured: the measured numbers, as text.
        expected: the expected value or range, as text.
        explanation: one line; what is wrong when the check fails.
    """

    name: str
    verdict: Verdict
    measured: str = ""
    expected: str = ""
    explanation: str = ""

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASS

    @property
    def failed(self) -> bool:
        return self.verdict is Verdict.FAIL


@dataclasses.dataclass
class ConformanceReport:
    """The outcome of :func:`check_dropout` or :func:`check_penalty` for one target.

    Attributes:
        target: a readable name of what was checked.
        kind: ``"dropout"`` or ``"penalty"``.
        convention: how the target was called (e.g. ``"function f(x, p, training=...)"``).
        checks: one :class:`CheckResult` per property, in the order checked.
    """

    target: str
    kind: str
    convention: str
    checks: list[CheckResult] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no check failed (N.A. checks do not count against it)."""
        return not self.failed

    @property
    def failed(self) -> list[str]:
        """Names of the failed properties, in order."""
        return [c.name for c in self.checks if c.failed]

    @property
    def passed(self) -> list[str]:
        return [c.name for c in self.checks if c.passed]

    @property
    def not_applicable(self) -> list[str]:
        return [c.name for c in self.checks if c.verdict is Verdict.NA]

    def __getitem__(self, name: str) -> CheckResult:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"no check named {name!r}; the checks are: {', '.join(c.name for c in self.checks)}")

    def __iter__(self) -> Iterator[CheckResult]:
        return iter(self.checks)

    def __len__(self) -> int:
        return len(self.checks)

    def verdict_line(self) -> str:
        counts = {v: sum(c.verdict is v for c in self.checks) for v in Verdict}
        tally = f"{counts[Verdict.PASS]} passed, {counts[Verdict.FAIL]} failed, {counts[Verdict.NA]} not applicable"
        if self.ok:
            return f"verdict: CONFORMS ({tally})"
        return f"verdict: DOES NOT CONFORM ({tally}; failed: {', '.join(self.failed)})"

    def format(self) -> str:
        """The report as a text table: property, verdict, measured, expected, then notes."""
        header = ("property", "verdict", "measured", "expected")
        rows = [(c.name, str(c.verdict), c.measured, c.expected) for c in self.checks]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
        lines = [f"conformance of {self.target} ({self.kind}; called as {self.convention})", ""]
        for row in [header, *rows]:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])
        notes = [c for c in self.checks if c.explanation]
        if notes:
            lines.append("")
            for c in notes:
                mark = {"PASS": "ok", "FAIL": "!!", "N.A.": "--"}[c.verdict.value]
                lines.append(f"{mark} {c.name}: {c.explanation}")
        lines += ["", self.verdict_line()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def describe_exception(exc: BaseException) -> str:
    """``"ValueError: first line of the message"``, at most 160 characters."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:160] if text else type(exc).__name__
