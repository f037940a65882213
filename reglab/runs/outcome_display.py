"""How a run's outcome shows itself: its history as data, its curves in a notebook.

:class:`RunDisplay` is mixed into :class:`~reglab.runs.runner.RunOutcome`: a
``History`` of the run's epochs, ``plot()``, and ``_repr_html_`` so that a
notebook cell ending in ``reglab.run(...)`` shows the experiment, status,
final numbers and run folder, and below them every figure the run wrote
(``curves.png``...), inline as self-contained images; a run without a folder
shows its history's curves instead.
"""

from __future__ import annotations

import base64
import html
import numbers
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.state import History

if TYPE_CHECKING:
    from ..engine.history_plot import CurvesFigure
    from .experiment import Result
    from .run_dir import RunDir

__all__ = ["RunDisplay", "png_tag", "metrics_table"]


def png_tag(data: bytes, alt: str) -> str:
    """An ``<img>`` holding ``data`` (PNG bytes) inline."""
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}" style="max-width:100%">'


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def metrics_table(items: Iterable[tuple[str, Any]]) -> str:
    """A two-row HTML table: names, then values."""
    pairs = list(items)
    if not pairs:
        return ""
    head = "".join(f"<th>{html.escape(k)}</th>" for k, _ in pairs)
    body = "".join(f"<td>{_cell(v)}</td>" for _, v in pairs)
    return f"<table><tr>{head}</tr><tr>{body}</tr></table>"


def final_numbers(summary: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The numeric train/val/test entries of a summary, and ``epochs``."""
    keys = [k for k in summary if k.startswith(("train_", "val_", "test_")) and not k.endswith("seconds")]
    keys += [k for k in ("epochs",) if k in summary]
    return [(k, summary[k]) for k in keys if isinstance(summary[k], numbers.Real) and not isinstance(summary[k], bool)]


class RunDisplay:
    """The history and the notebook display of a run outcome (a mixin)."""

    experiment: str
    status: str
    run_dir: RunDir | None
    result: Result | None
    summary: dict[str, Any]

    @property
    def history(self) -> History:
        """The run's per-epoch rows (empty for an experiment without epochs)."""
        rows = list(self.result.rows) if self.result is not None else []
        return History(rows=rows)

    def plot(self) -> CurvesFigure:
        """The run's training curves (:meth:`History.plot <reglab.engine.state.History.plot>`)."""
        return self.history.plot(title=f"{self.experiment} ({self.status})")

    def figures(self) -> list[Path]:
        """The PNG files in the run directory, by name."""
        if self.run_dir is None or not self.run_dir.path.is_dir():
            return []
        return sorted(p for p in self.run_dir.path.glob("*.png") if not p.name.startswith("."))

    def _repr_html_(self) -> str:
        from ..engine.history_plot import figure_png

        where = html.escape(str(self.run_dir.path)) if self.run_dir is not None else "no run directory"
        parts = [
            f"<div><p><b>{html.escape(self.experiment)}</b>: {html.escape(self.status)} &mdash; <code>{where}</code></p>",
            metrics_table(final_numbers(self.summary)),
        ]
        pictures = self.figures()
        parts += [png_tag(p.read_bytes(), p.name) for p in pictures]
        if not pictures and self.history.rows:
            parts.append(png_tag(figure_png(self.plot()), "training curves"))
        return "\n".join(parts) + "</div>"
