"""How a sweep's result shows itself in a notebook.

:class:`SweepDisplay` is mixed into :class:`~reglab.sweeps.sweep.SweepResult`:
a notebook cell ending in ``reglab.sweep(...)`` shows the trial counts, the
selected configuration and why, the test-optimal one, a table of every
configuration (validation and test metric, mean ± standard deviation over
seeds) and the knob plots the sweep wrote, inline.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from ..runs.outcome_display import png_tag

__all__ = ["SweepDisplay"]


def _number(value: Any) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.4g}"
    return html.escape(str(value))


class SweepDisplay:
    """The notebook display of a sweep result (a mixin)."""

    path: Path
    backend: str
    knobs: list[str]
    rows: list[dict[str, Any]]
    configurations: list[dict[str, Any]]
    report: dict[str, Any]
    status: str

    def figures(self) -> list[Path]:
        """The knob plots in the sweep folder, by name."""
        return sorted(p for p in Path(self.path).glob("*.png") if not p.name.startswith("."))

    def _point(self, item: dict[str, Any] | None) -> str:
        if item is None:
            return "none"
        return html.escape(", ".join(f"{k}={item.get(k)}" for k in self.knobs) or "(defaults)")

    def _table(self) -> str:
        metric = self.report.get("metric", "loss")
        keys = [f"val_{metric}", f"test_{metric}"]
        head = "".join(f"<th>{html.escape(k)}</th>" for k in [*self.knobs, *keys, "seeds", "failed"])
        body = []
        for item in self.configurations:
            cells = [_number(item.get(k)) for k in self.knobs]
            for key in keys:
                mean, std = item.get(f"{key}_mean"), item.get(f"{key}_std")
                cells.append("–" if mean is None else f"{_number(mean)} ± {_number(std)}")
            cells += [_number(item.get("seeds", "")), _number(item.get("failed", ""))]
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        return f"<table><tr>{head}</tr>{''.join(body)}</table>"

    def _repr_html_(self) -> str:
        counts = {s: sum(r.get("status") == s for r in self.rows) for s in ("complete", "diverged", "failed")}
        done = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none finished"
        parts = [
            f"<div><p><b>sweep</b>: {html.escape(self.status)}, {len(self.rows)} trials ({done}) on the "
            f"{html.escape(self.backend)} backend &mdash; <code>{html.escape(str(self.path))}</code></p>",
            f"<p>selected: {self._point(self.report.get('selected'))} "
            f"({html.escape(str(self.report.get('reason', '')))})<br>"
            f"test-optimal: {self._point(self.report.get('test_optimal'))}</p>",
            self._table(),
        ]
        parts += [png_tag(p.read_bytes(), p.name) for p in self.figures()]
        return "\n".join(parts) + "</div>"
