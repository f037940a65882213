"""A sweep directory: ``sweep.json``, ``trials.jsonl``, ``results.csv``, ``summary.json``, plots.

The folder ``OUT/EXPERIMENT/<timestamp>[-k]/`` is created exclusively (see
:class:`reglab.runs.run_dir.RunDir`): a sweep never writes into another's folder.
``sweep.json`` records everything needed to resume (experiment, grid, seeds,
selection, the trials).

Every finished trial's row is appended at once to ``trials.jsonl`` (one JSON
object a line, flushed and fsynced): a crash can at most cut the line being
written, which is ignored when read (and removed before ``--resume`` appends,
so the next row never lands on it), so no finished row is ever lost, and
``--resume`` reads this journal. A journal or manifest that is malformed
otherwise (not UTF-8, a line that is not a JSON object with a trial number)
is refused in one sentence naming the file and the line. ``results.csv``, the table for people and
tools, is rewritten *atomically* (temporary file, fsync, rename) from all the
rows: after the first trial, then whenever a second has passed and ten times
the last rewrite's duration (so rewriting costs at most a tenth of the sweep
however many rows there are, where rewriting after every trial grew with the
square of the count), and always when the sweep ends or is interrupted. After
a hard crash it may lack the rows of the last second; ``trials.jsonl`` has
them, and ``--resume`` writes them back.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..core.files import os_reason, output_error
from ..runs.run_dir import RunDir, read_csv_rows
from .trial import _tuples

__all__ = ["SweepStore", "read_results", "read_journal", "repair_journal", "check_manifest"]

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


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``results.csv``: numbers and tuples parsed back (``nan`` as a float),
    ``status`` and ``error`` as text (see :func:`reglab.runs.run_dir.read_csv_rows`)."""
    return read_csv_rows(path, text_columns=("status", "error"))


_ROW_START = b'{"trial": '


def _journal_row(line: bytes, path: Path, number: int) -> dict[str, Any]:
    """One complete journal line as a row; a malformed one is refused naming the file and line."""

    def refuse(why: str) -> ConfigError:
        return ConfigError(f"--resume: {path}, line {number}: {why}; a sweep journal holds one JSON row per line")

    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise refuse("not UTF-8 text") from None
    try:
        row = json.loads(text)
    except json.JSONDecodeError:
        # A row appended after a line a crash had cut (before this was repaired):
        # the complete row is the last one that starts in the line.
        start = line.rfind(_ROW_START)
        if start > 0:
            return _journal_row(line[start:], path, number)
        raise refuse("not JSON") from None
    if not isinstance(row, dict):
        raise refuse(f"a JSON {type(row).__name__}, not an object")
    trial = row.get("trial")
    if isinstance(trial, bool) or not isinstance(trial, int) or trial < 0:
        raise refuse(f"no trial number (trial={trial!r})")
    return dict(_tuples(row))  # JSON wrote the grid's tuples as lists


def read_journal(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``trials.jsonl`` in the order written. A last line without its newline
    (cut by a crash) is not a finished row and is ignored; any other malformed line is refused
    with :class:`~reglab.core.errors.ConfigError` naming the file and the line."""
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    complete = lines[:-1]  # the part after the last newline is empty, or a cut line
    return [_journal_row(line, path, i + 1) for i, line in enumerate(complete) if line.strip()]


def repair_journal(path: str | Path) -> int:
    """Cut a last line that a crash left without its newline, so that the next row starts on a
    line of its own (nothing complete is removed). Returns the number of bytes removed."""
    path = Path(path)
    if not path.exists():
        return 0
    with path.open("rb+") as f:
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep == len(data):
            return 0
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return len(data) - keep


def check_manifest(path: str | Path, manifest: Any) -> dict[str, Any]:
    """The manifest of ``sweep.json`` with what a resume needs, or one sentence naming the file."""
    where = Path(path) / SWEEP

    def refuse(why: str) -> ConfigError:
        return ConfigError(f"--resume: {where} is not a readable sweep manifest ({why})")

    if not isinstance(manifest, dict):
        raise refuse(f"a JSON {type(manifest).__name__}, not an object")
    needs = {"experiment": str, "knobs": list, "trials": list, "device": str}
    for key, kind in needs.items():
        if not isinstance(manifest.get(key), kind):
            raise refuse(f"no {key}" if key not in manifest else f"`{key}` is not a {kind.__name__}")
    for i, trial in enumerate(manifest["trials"]):
        fields = ("index", "point", "seed", "fold", "overrides")
        if not isinstance(trial, dict) or any(k not in trial for k in fields) or trial["index"] != i:
            raise refuse(f"trial {i} is not a trial record with {', '.join(fields)}")
    manifest.setdefault("select", None)
    return manifest


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
        try:
            store.run_dir.write_json(SWEEP, manifest)
            store.run_dir.write_text(RESULTS, "")
        except BaseException:
            (store.path / RESULTS).unlink(missing_ok=True)
            (store.path / SWEEP).unlink(missing_ok=True)
            store.run_dir.discard_if_empty()
            raise
        return store

    @classmethod
    def open(cls, path: str | Path, *, repair: bool = False) -> tuple[SweepStore, dict[str, Any]]:
        """An existing sweep folder, its manifest, and its finished rows loaded.

        With ``repair`` (a resume, which appends) a journal line cut by a crash is
        removed first, so the next row is not glued to it. Anything unreadable is
        refused with :class:`~reglab.core.errors.ConfigError` naming the file.
        """
        path = Path(path)
        if not (path / SWEEP).is_file():
            raise ConfigError(f"--resume: {path} is not a sweep directory (no {SWEEP})")
        try:
            manifest = json.loads((path / SWEEP).read_text(encoding="utf-8"))
            knobs = manifest["knobs"]
            if not isinstance(knobs, list) or not all(isinstance(k, str) for k in knobs):
                raise TypeError("`knobs` is not a list of names")
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, KeyError) as exc:
            raise ConfigError(
                f"--resume: {path / SWEEP} is not a readable sweep manifest ({type(exc).__name__}: {exc})"
            ) from None
        except OSError as exc:
            raise ConfigError(f"--resume: {path / SWEEP} cannot be read ({os_reason(exc)})") from None
        store = cls(RunDir(path), knobs)
        try:
            if repair:
                repair_journal(path / JOURNAL)
            # A later row of a trial (a failed trial rerun) replaces the earlier one.
            rows = read_journal(path / JOURNAL) if (path / JOURNAL).exists() else read_results(path / RESULTS)
        except ConfigError:  # the journal's own sentence, naming the line
            raise
        except OSError as exc:
            raise ConfigError(
                f"--resume: the journal in {path} cannot be read or repaired ({os_reason(exc)})"
            ) from None
        except (UnicodeDecodeError, ValueError, SyntaxError, csv.Error) as exc:
            raise ConfigError(f"--resume: {path / RESULTS} is not a readable results table ({exc})") from None
        for row in rows:
            if not isinstance(row.get("trial"), int):
                raise ConfigError(f"--resume: {path / RESULTS} has a row without a trial number: {row}")
            store._rows[row["trial"]] = row
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
            metrics.extend(
                k for k in row if k.startswith(("train_", "val_", "test_")) and k not in metrics and k not in self.knobs
            )
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
        try:
            with open(self.path / JOURNAL, "a", encoding="utf-8") as journal:
                journal.write(lines)
                journal.flush()
                os.fsync(journal.fileno())
        except OSError as exc:
            raise output_error(self.path / JOURNAL, exc, "append to") from exc
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
