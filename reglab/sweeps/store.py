"""A sweep directory: ``sweep.json``, ``results.csv``, ``summary.json``, plots.

The folder ``OUT/EXPERIMENT/<timestamp>[-k]/`` is created exclusively (see
:class:`reglab.rundir.RunDir`): a sweep never writes into another's folder.
``sweep.json`` records everything needed to resume (experiment, grid, seeds,
selection, the trials). ``results.csv`` holds one row per finished trial and is
rewritten *atomically* (temporary file, fsync, rename) after each one, so a
crash or Ctrl-C leaves every finished row readable and never half a file.
"""

from __future__ import annotations

import ast
import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..rundir import RunDir

__all__ = ["SweepStore", "read_results"]

RESULTS = "results.csv"
SWEEP = "sweep.json"
_FIXED = ("trial",)
_TAIL = ("seconds", "status", "error")


def _parse_cell(text: str) -> Any:
    if text == "":
        return ""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``results.csv``, with numbers and tuples parsed back."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        parsed = {k: _parse_cell(v) for k, v in row.items()}
        for k in ("status", "error"):  # always text, even "nan"-like messages
            if k in row:
                parsed[k] = row[k]
        out.append(parsed)
    return out


class SweepStore:
    """The files of one sweep; rows are kept in trial order and written atomically."""

    def __init__(self, run_dir: RunDir, knobs: Sequence[str]) -> None:
        self.run_dir = run_dir
        self.knobs = list(knobs)
        self._rows: dict[int, dict[str, Any]] = {}

    @property
    def path(self) -> Path:
        return self.run_dir.path

    @classmethod
    def create(cls, out: str | Path, experiment: str, manifest: dict[str, Any], knobs: Sequence[str]) -> SweepStore:
        """A new sweep folder with its ``sweep.json``."""
        store = cls(RunDir.create(out, experiment), knobs)
        store.run_dir.write_json(SWEEP, manifest)
        store.run_dir.write_text(RESULTS, "")
        return store

    @classmethod
    def open(cls, path: str | Path) -> tuple[SweepStore, dict[str, Any]]:
        """An existing sweep folder, its manifest, and its finished rows loaded."""
        path = Path(path)
        if not (path / SWEEP).is_file():
            raise ConfigError(f"--resume: {path} is not a sweep directory (no {SWEEP})")
        manifest = json.loads((path / SWEEP).read_text())
        store = cls(RunDir(path), manifest["knobs"])
        for row in read_results(path / RESULTS):
            store._rows[int(row["trial"])] = row
        return store, manifest

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [self._rows[i] for i in sorted(self._rows)]

    def finished(self, *, statuses: Sequence[str] = ("complete", "diverged")) -> set[int]:
        """Indices of trials whose row is final (failed trials are re-run on resume)."""
        return {i for i, row in self._rows.items() if row.get("status") in statuses}

    def columns(self) -> list[str]:
        metrics: list[str] = []
        for row in self.rows:
            metrics.extend(k for k in row if k.startswith(("train_", "val_", "test_")) and k not in metrics)
        split_order = {"train": 0, "val": 1, "test": 2}
        metrics.sort(key=lambda k: (split_order[k.split("_", 1)[0]], k.split("_", 1)[1]))
        return [*_FIXED, *self.knobs, "seed", "fold", *metrics, *_TAIL]

    def record(self, row: dict[str, Any]) -> None:
        """Add (or replace) one trial's row and rewrite ``results.csv`` atomically."""
        self._rows[int(row["trial"])] = row
        self.run_dir.write_csv(RESULTS, self.rows, self.columns())

    def record_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """:meth:`record` for rows that finished together (a vectorized stack): one rewrite."""
        for row in rows:
            self._rows[int(row["trial"])] = row
        self.run_dir.write_csv(RESULTS, self.rows, self.columns())

    def write_json(self, name: str, data: Any) -> Path:
        return self.run_dir.write_json(name, data)
