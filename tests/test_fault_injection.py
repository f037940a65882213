"""Fault injection: ``reglab run`` and ``reglab sweep`` killed at seeded random points.

Each test kills real processes (forked by :mod:`tests.fault_server`, which has
reglab imported already) at 12 seeded random points, cycling through SIGINT,
SIGTERM and SIGKILL. A point is a moment of progress, not of the clock (so a
loaded machine moves nothing): after k epochs of a run (k = 0..6, 6 being its
final writes) or k journalled trials of a sweep (k = 0..7), plus a random part
of an epoch or a trial. Then it checks what the README promises:

- a run keeps every finished epoch readable in ``metrics.csv`` (at least every
  epoch that had finished when the signal came, as the experiment logged it),
  and after SIGINT/SIGTERM ``summary.json`` says ``interrupted`` with the
  signal, and the exit code is 130/143;
- a sweep's journal stays readable (only SIGKILL may leave a cut last line), no
  worker process outlives the sweep, SIGINT/SIGTERM print the folder to
  resume, and ``--resume`` finishes with every trial's numbers equal to an
  uninterrupted sweep's: no finished trial is lost or changed.

``pytest -m faults -s -p no:xdist`` prints the totals (kill points tried,
epochs and trials lost).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from reglab.sweeps.store import read_journal

pytestmark = [pytest.mark.faults, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
KILL_POINTS = 12
SWEEP_GRID = ["lr=0.01,0.02,0.03,0.04,0.05,0.06,0.07,0.08", "epochs=3", "pause=0.02"]
METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")


@dataclass
class Child:
    pid: int
    out: Path
    err: Path
    started: float


class ForkServer:
    """The test's handle on ``python -m tests.fault_server``."""

    def __init__(self) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fault_server"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert "ready" in self._next(120)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def _next(self, timeout: float) -> dict:
        return json.loads(self.lines.get(timeout=timeout))

    def start(self, args: list[str], where: Path, env: dict[str, str] | None = None) -> Child:
        out, err = where.with_suffix(".out"), where.with_suffix(".err")
        request = {"args": args, "out": str(out), "err": str(err), "env": env or {}}
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return Child(self._next(30)["pid"], out, err, time.monotonic())

    def wait(self, child: Child, timeout: float = 60) -> int:
        reply = self._next(timeout)
        assert reply["pid"] == child.pid
        return reply["code"]

    def run(self, args: list[str], where: Path) -> tuple[int, float]:
        child = self.start(args, where)
        code = self.wait(child)
        return code, time.monotonic() - child.started

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server():
    s = ForkServer()
    yield s
    s.close()


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent's wait is missing


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it had finished already
        os.kill(pid, sig)


def _metric_rows(run: Path) -> list[dict[str, str]]:
    path = run / "metrics.csv"
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def _trial_metrics(rows: list[dict]) -> dict[int, tuple]:
    final = {}
    for row in rows:  # a later row of a trial replaces an earlier one
        final[row["trial"]] = (row["status"], *(row.get(k) for k in METRICS))
    return final


def _wait_for(count: Callable[[], int], at_least: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while count() < at_least and time.monotonic() < deadline:
        time.sleep(0.002)


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except OSError:
        return 0


def test_a_run_killed_anywhere_keeps_every_finished_epoch(server, tmp_path):
    # A kill point is a moment of the run's progress, drawn with a seed: after k of its 6
    # epochs (0 to 6: 6 is the final writes), plus a random part of an epoch's pause.
    rng = random.Random(2026)
    tried, kept, lost, interrupted = 0, 0, 0, 0
    for i in range(KILL_POINTS):
        sig, after, within = SIGNALS[i % 3], rng.randint(0, 6), rng.uniform(0.0, 0.03)
        out, log = tmp_path / f"kill{i}", tmp_path / f"kill{i}.log"
        child = server.start(["run", "faulty", "--out", str(out), "--quiet"], out, env={"REGLAB_FAULT_LOG": str(log)})
        _wait_for(lambda log=log: _lines(log), after)
        time.sleep(within)
        _kill(child.pid, sig)
        code = server.wait(child)
        tried += 1
        finished = _lines(log)
        runs = sorted((out / "faulty").glob("*")) if (out / "faulty").exists() else []
        assert len(runs) <= 1
        if not runs:
            assert finished == 0
            continue
        rows = _metric_rows(runs[0])
        assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))
        assert all(math.isfinite(float(v)) for r in rows for v in r.values())
        assert finished <= len(rows) <= finished + 1, (sig, finished, len(rows))
        lost += max(0, finished - len(rows))
        kept += len(rows)
        summary_path = runs[0] / "summary.json"
        if code == 0:  # the signal came after the run had ended
            assert json.loads(summary_path.read_text())["status"] == "complete"
        elif sig == signal.SIGKILL:
            assert code == -signal.SIGKILL and (not summary_path.exists() or after == 6)
        else:
            interrupted += 1
            summary = json.loads(summary_path.read_text())
            assert code == 128 + sig, child.err.read_text()
            assert summary["status"] == "interrupted" and summary["signal"] == signal.Signals(sig).name
            assert summary["metrics_rows"] == len(rows)
            assert "interrupted" in child.err.read_text() and "Traceback" not in child.err.read_text()
    assert interrupted >= 4
    print(f"\nruns: {tried} kill points tried, {kept} finished epochs kept, epochs lost: {lost}")
    assert lost == 0


def test_a_sweep_killed_anywhere_loses_no_trial_and_resumes_to_the_same_numbers(server, tmp_path):
    rng = random.Random(2027)
    args = ["sweep", "faulty", *SWEEP_GRID, "--backend", "local", "--workers", "2", "--quiet"]
    code, _ = server.run([*args, "--out", str(tmp_path / "reference")], tmp_path / "ref")
    assert code == 0
    (reference,) = (tmp_path / "reference" / "faulty").glob("*")
    expected = _trial_metrics(read_journal(reference / "trials.jsonl"))
    assert len(expected) == 8 and all(v[0] == "complete" for v in expected.values())

    tried, lost, resumed, orphans, killed_with_workers = 0, 0, 0, 0, 0
    for i in range(KILL_POINTS):
        # A kill point: after k of the 8 trials are journalled (0 to 7), plus part of a trial's time.
        sig, after, within = SIGNALS[i % 3], rng.randint(0, 7), rng.uniform(0.0, 0.1)
        out = tmp_path / f"kill{i}"
        child = server.start([*args, "--out", str(out)], out)
        workers: set[int] = set()

        def progress(out=out, child=child, workers=workers) -> int:
            workers.update(_children(child.pid))
            journals = list(out.glob("faulty/*/trials.jsonl"))
            return _lines(journals[0]) if journals else 0

        _wait_for(progress, after)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            progress()
            time.sleep(0.005)
        workers |= _children(child.pid)
        _kill(child.pid, sig)
        code = server.wait(child)
        tried += 1
        killed_with_workers += sig == signal.SIGKILL and bool(workers)
        gone_by = time.monotonic() + 5
        while any(_alive(p) for p in workers) and time.monotonic() < gone_by:
            time.sleep(0.02)
        orphans += sum(_alive(p) for p in workers)
        folders = sorted((out / "faulty").glob("*")) if (out / "faulty").exists() else []
        if not folders:
            continue
        folder = folders[0]
        journal = folder / "trials.jsonl"
        if journal.exists() and sig != signal.SIGKILL:
            assert journal.read_bytes().endswith(b"\n") or journal.stat().st_size == 0  # no cut line
        before = _trial_metrics(read_journal(journal))  # every finished row is readable
        if code not in (0, -signal.SIGKILL):
            assert code == 128 + sig
            err = child.err.read_text()
            assert f"resume with: reglab sweep --resume {folder}" in err, err
            assert json.loads((folder / "summary.json").read_text())["status"] == "interrupted"
        code = server.wait(server.start(["sweep", "--resume", str(folder), "--quiet"], out.with_name(f"resume{i}")))
        assert code == 0
        resumed += 1
        after = _trial_metrics(read_journal(journal))
        assert after == expected  # every trial, with the numbers of the uninterrupted sweep
        lost += sum(1 for t, metrics in before.items() if metrics[0] == "complete" and after.get(t) != metrics)
    assert killed_with_workers >= 1 and resumed >= 8
    print(f"\nsweeps: {tried} kill points tried, {resumed} resumed to the reference numbers, trials lost: {lost}")
    assert orphans == 0 and lost == 0
