"""A sweep directory: ``sweep.json``, ``trials.jsonl``, ``results.csv``, ``summary.json``, plots.

The folder ``OUT/EXPERIMENT/<timestamp>[-k]/`` is created exclusively (see
:class:`reglab.runs.run_dir.RunDir`): a sweep never writes into another's folder.
``sweep.json`` records everything needed to resume (experiment, grid, seeds,
selection, the trials).

Every finished trial's row is appended at once to ``trials.jsonl`` (one JSON
object a line, flushed and fsynced): a crash can at most cut the line being
written, which is ignored when read, so no finished row is ever lost, and
``--resume`` reads this journal. ``results.csv``, the table for people and
tools, is rewritten *atomically* (temporary file, fsync, rename) from all the
rows: after the first trial, then whenever a second has passed and ten times
the last rewrite's duration (so rewriting costs at most a tenth of the sweep
however many rows there are, where rewriting after every trial grew with the
square of the count), and always when the sweep ends or is interrupted. After
a hard crash it may lack the rows of the last second; ``trials.jsonl`` has
them, and ``--resume`` writes them back.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..runs.run_dir import RunDir
from .trial import _tuples

__all__ = ["SweepStore", "read_results", "read_journal"]

RESULTS = "results.csv"
JOURNAL = "trials.jsonl"
SWEEP = "sweep.json"
# results.csv is rewritten at most every CSV_INTERVAL seconds and every
# CSV_COST_FACTOR times the last rewrite's duration.
CSV_INTERVAL = 1.0
CSV_COST_FACTOR = 10.0
_FIXED = ("trial",)
_TAIL = ("seconds", "status", "error")
# Written only when a row has them: the search's trial, epochs trained, the Ray node.
_OPTIONAL = ("study_trial", "epochs_run", "node", "node_ip", "node_label")


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


def read_journal(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``trials.jsonl`` in the order written; a cut last line is ignored."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # the line a crash cut short
            continue
        rows.append(_tuples(row))  # JSON wrote the grid's tuples as lists
    return rows


class SweepStore:
    """The files of one sweep; rows are journalled at once and kept in trial order."""

    def __init__(self, run_dir: RunDir, knobs: Sequence[str]) -> None:
        self.run_dir = run_dir
        self.knobs = list(knobs)
        self._rows: dict[int, dict[str, Any]] = {}
        self._csv_due = 0.0  # time.monotonic() after which results.csv may be rewritten
        self._csv_stale = False

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
        try:
            manifest = json.loads((path / SWEEP).read_text())
            knobs = manifest["knobs"]
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, KeyError) as exc:
            raise ConfigError(
                f"--resume: {path / SWEEP} is not a readable sweep manifest ({type(exc).__name__}: {exc})"
            ) from None
        store = cls(RunDir(path), knobs)
        # A later row of a trial (a failed trial rerun) replaces the earlier one.
        rows = read_journal(path / JOURNAL) if (path / JOURNAL).exists() else read_results(path / RESULTS)
        for row in rows:
            store._rows[int(row["trial"])] = row
        return store, manifest

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [self._rows[i] for i in sorted(self._rows)]

    def finished(self, *, statuses: Sequence[str] = ("complete", "diverged", "stopped")) -> set[int]:
        """Indices of trials whose row is final (failed trials are re-run on resume; a
        trial a scheduler stopped stays stopped)."""
        return {i for i, row in self._rows.items() if row.get("status") in statuses}

    def columns(self) -> list[str]:
        metrics: list[str] = []
        for row in self.rows:
            metrics.extend(k for k in row if k.startswith(("train_", "val_", "test_")) and k not in metrics)
        split_order = {"train": 0, "val": 1, "test": 2}
        metrics.sort(key=lambda k: (split_order[k.split("_", 1)[0]], k.split("_", 1)[1]))
        optional = [k for k in _OPTIONAL if any(k in row for row in self._rows.values())]
        return [*_FIXED, *self.knobs, "seed", "fold", *metrics, *optional, *_TAIL]

    def record(self, row: dict[str, Any]) -> None:
        """Add (or replace) one trial's row: journal it now, rewrite ``results.csv`` when due."""
        self.record_many([row])

    def record_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """:meth:`record` for rows that finished together (a vectorized stack)."""
        lines = "".join(json.dumps(row) + "\n" for row in rows)
        with open(self.path / JOURNAL, "a") as journal:
            journal.write(lines)
            journal.flush()
            os.fsync(journal.fileno())
        for row in rows:
            self._rows[int(row["trial"])] = row
        self._csv_stale = True
        if time.monotonic() >= self._csv_due:
            self.flush()

    def reload(self) -> None:
        """Read the journal again: rows that other processes working on the same
        sweep folder (one Optuna study) appended are then part of this store too."""
        for row in read_journal(self.path / JOURNAL):
            self._rows[int(row["trial"])] = row
        self._csv_stale = True

    def flush(self) -> None:
        """Rewrite ``results.csv`` atomically from every row, if any row came since the last time."""
        if not self._csv_stale:
            return
        start = time.monotonic()
        self.run_dir.write_csv(RESULTS, self.rows, self.columns())
        now = time.monotonic()
        self._csv_due = now + max(CSV_INTERVAL, CSV_COST_FACTOR * (now - start))
        self._csv_stale = False

    def write_json(self, name: str, data: Any) -> Path:
        return self.run_dir.write_json(name, data)
