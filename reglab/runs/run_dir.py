"""Run directories: created exclusively, written atomically, never overwritten.

A run directory ``OUT/EXPERIMENT/<YYYYmmdd-HHMMSS>/`` is created with
``os.mkdir``, which fails if it exists; a clash (two runs in the same second)
gets a ``-2``, ``-3``... suffix, so no run ever writes into another's folder.
Every file is written to a temporary file in the same folder and renamed into
place, so a reader (or a crash) never sees half a file. ``metrics.csv`` is
rewritten after every epoch: an interrupted run leaves its finished epochs
readable, and ``summary.json`` records ``status`` (``complete``,
``interrupted``, ``diverged`` or ``failed``).
"""

from __future__ import annotations

import ast
import contextlib
import csv
import io
import json
import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from ..core.errors import OutputError
from ..core.files import atomic_write_bytes, atomic_write_text, os_reason
from ..engine.callbacks import Callback

__all__ = ["RunDir", "atomic_write_bytes", "atomic_write_text", "rows_to_csv", "read_csv_rows", "MetricsWriter"]


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _clean_floats(value: Any) -> Any:
    # JSON has no NaN/inf: write them as null so every JSON reader can load the file.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_floats(v) for v in value]
    return value


def rows_to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """CSV text of dict rows; columns default to the union of keys in first-seen order."""
    if columns is None:
        columns = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()


def _parse_cell(text: str) -> Any:
    if text == "":
        return ""
    try:
        return ast.literal_eval(text)  # numbers, tuples, None, quoted strings
    except (ValueError, SyntaxError):
        pass
    try:
        return float(text)  # nan, inf
    except ValueError:
        return text


def read_csv_rows(path: str | Path, *, text_columns: Sequence[str] = ("status", "error")) -> list[dict[str, Any]]:
    """The rows of a CSV file written by :func:`rows_to_csv`: each cell parsed back as the
    Python literal it was (a number, a tuple, None; ``nan`` and ``inf`` as floats), else kept
    as text, an empty cell as ``""``; ``text_columns`` are always kept as text. A missing
    file has no rows."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    # (a row longer than the header has its extra cells under the key None: dropped)
    return [
        {k: (v if k in text_columns else _parse_cell(v or "")) for k, v in row.items() if k is not None} for row in rows
    ]


def _why_not_a_folder(path: Path, exc: OSError) -> str:
    """The reason a folder cannot be made at ``path``, in words: which part is a file, or the OS's reason."""
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            return f"{part} is not a folder"
    return os_reason(exc)


class RunDir:
    """A run's folder. Create with :meth:`create`; all writes are atomic."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, out: str | Path, name: str, *, now: float | None = None) -> RunDir:
        """Make a new, empty ``out/name/<timestamp>[-k]`` folder; never reuse one."""
        parent = Path(out) / name
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
        try:
            parent.mkdir(parents=True, exist_ok=True)
            for k in range(1, 10_000):
                candidate = parent / (stamp if k == 1 else f"{stamp}-{k}")
                try:
                    candidate.mkdir()
                except FileExistsError:
                    continue
                return cls(candidate)
        except OSError as exc:
            raise OutputError(f"cannot create a folder under {out}: {_why_not_a_folder(parent, exc)}") from exc
        raise OutputError(f"cannot create a new folder under {parent}: 10000 folders of this second exist")

    def discard_if_empty(self) -> None:
        """Remove the folder if nothing was written into it (its creation was all that happened)."""
        with contextlib.suppress(OSError):
            self.path.rmdir()

    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, data: Any) -> Path:
        text = json.dumps(_clean_floats(data), indent=2, default=_json_default, allow_nan=False)
        return atomic_write_text(self.file(name), text + "\n")

    def write_text(self, name: str, text: str) -> Path:
        return atomic_write_text(self.file(name), text)

    def write_csv(self, name: str, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> Path:
        return atomic_write_text(self.file(name), rows_to_csv(rows, columns))

    def save_state_dict(self, name: str, module: torch.nn.Module) -> Path:
        buffer = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, buffer)
        return atomic_write_bytes(self.file(name), buffer.getvalue())

    def save_figure(self, name: str, figure: Any) -> Path:
        buffer = io.BytesIO()
        figure.savefig(buffer, format=Path(name).suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")
        return atomic_write_bytes(self.file(name), buffer.getvalue())

    def files(self) -> list[str]:
        return sorted(p.name for p in self.path.iterdir() if not p.name.startswith("."))

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"


class MetricsWriter(Callback):
    """Rewrite ``metrics.csv`` (atomically) after every epoch.

    Its state is the rows written: a checkpoint saves it, and a resumed run's
    writer loads it and rewrites the file at once with the checkpoint's epochs
    (dropping the rows of epochs finished after the checkpoint, which the
    resumed run trains again), then appends as before.
    """

    def __init__(self, run_dir: RunDir, name: str = "metrics.csv", columns: Iterable[str] | None = None) -> None:
        self.run_dir = run_dir
        self.name = name
        self.columns = list(columns) if columns is not None else None
        self.rows: list[dict[str, float]] = []

    def on_epoch_end(self, state: Any, row: dict[str, float]) -> None:
        self.rows.append(dict(row))
        self.run_dir.write_csv(self.name, self.rows, self.columns)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [dict(row) for row in self.rows]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = [dict(row) for row in state["rows"]]
        self.run_dir.write_csv(self.name, self.rows, self.columns)
