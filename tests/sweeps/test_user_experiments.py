"""Sweeps of users' experiments: the file travels with every trial (as ``SOURCE:NAME``), so
spawned worker processes and ``--resume`` in a fresh process load it before the lookup."""

from __future__ import annotations

import json
import multiprocessing
import sys

import pytest

import reglab.sweeps.backends.local as local_backend
from reglab.cli import main
from reglab.experiments import EXPERIMENTS
from reglab.runs import sources
from reglab.runs.sources import file_module_name
from reglab.sweeps import read_results, resume_sweep, run_sweep
from tests.helpers import write_user_experiment


def test_a_file_experiment_sweeps_selects_and_resumes_in_a_fresh_process(tmp_path, user_experiments, monkeypatch):
    file = write_user_experiment(tmp_path / "exp.py")
    monkeypatch.chdir(tmp_path)
    args = ["sweep", "exp.py:user-linear", "lr=0.02,0.3", "--select", "val=0.25", "--workers", "1", "--quiet"]
    assert main([*args, "--out", "sweeps"]) == 0
    (path,) = (tmp_path / "sweeps" / "user-linear").iterdir()
    manifest = json.loads((path / "sweep.json").read_text())
    assert manifest["experiment"] == "user-linear" and manifest["source"] == str(file)
    summary = json.loads((path / "summary.json").read_text())
    assert summary["selected"]["lr"] == 0.3 and summary["trials"]["complete"] == 2
    rows = read_results(path / "results.csv")
    assert all(r["val_acc"] > 0 for r in rows)

    # Lose the second trial's row, then resume as a fresh process would: knowing nothing.
    journal = path / "trials.jsonl"
    journal.write_text(journal.read_text().splitlines(keepends=True)[0])
    EXPERIMENTS._entries.pop("user-linear")
    sources._loaded.clear()
    del sys.modules[file_module_name(file)]
    monkeypatch.chdir(tmp_path / "sweeps")
    resumed = resume_sweep(path, backend="local", workers=1, quiet=True)
    assert [r["status"] for r in resumed.rows] == ["complete", "complete"]
    assert resumed.rows[1]["val_acc"] == rows[1]["val_acc"]


@pytest.mark.slow
def test_spawned_local_workers_import_the_experiment_file(tmp_path, user_experiments, monkeypatch):
    """Spawned workers (the local backend's choice with CUDA) start with an empty registry."""
    file = write_user_experiment(tmp_path / "exp.py")
    monkeypatch.setattr(local_backend, "_context", lambda device: multiprocessing.get_context("spawn"))
    result = run_sweep(f"{file}:user-linear", ["lr=0.05,0.2"], backend="local", workers=2, out=tmp_path, quiet=True)
    assert [(r["trial"], r["status"], r["error"]) for r in result.rows] == [(0, "complete", ""), (1, "complete", "")]
    serial = run_sweep(f"{file}:user-linear", ["lr=0.05,0.2"], backend="local", workers=1, out=tmp_path, quiet=True)
    assert [r["train_loss"] for r in result.rows] == [r["train_loss"] for r in serial.rows]
