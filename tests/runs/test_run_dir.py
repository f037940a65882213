"""Run directories: exclusive, atomic, readable after a crash."""

import csv
import json
import os
import stat

import pytest

from reglab.runs.run_dir import MetricsWriter, RunDir, atomic_write_text
from reglab.runs.runner import run_experiment


def test_a_clash_gets_a_new_folder_never_the_same(tmp_path):
    first = RunDir.create(tmp_path, "exp", now=1_700_000_000)
    first.write_text("note.txt", "first")
    second = RunDir.create(tmp_path, "exp", now=1_700_000_000)
    third = RunDir.create(tmp_path, "exp", now=1_700_000_000)
    assert len({first.path, second.path, third.path}) == 3
    assert second.path.name == first.path.name + "-2" and third.path.name == first.path.name + "-3"
    assert (first.path / "note.txt").read_text() == "first"
    assert second.files() == []


def test_atomic_write_leaves_no_temporary_and_uses_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "a.txt", "hello")
    finally:
        os.umask(old)
    assert path.read_text() == "hello"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    run = RunDir.create(tmp_path, "exp")
    run.write_json("summary.json", {"a": 1})

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        run.write_json("summary.json", {"a": 2})
    monkeypatch.undo()
    assert json.loads((run.path / "summary.json").read_text()) == {"a": 1}
    assert run.files() == ["summary.json"] and len(list(run.path.iterdir())) == 1


def test_json_writes_non_finite_numbers_as_null(tmp_path):
    run = RunDir.create(tmp_path, "exp")
    run.write_json("s.json", {"x": float("nan"), "y": [1.0, float("inf")]})
    assert json.loads((run.path / "s.json").read_text()) == {"x": None, "y": [1.0, None]}


def test_metrics_writer_rewrites_the_file_each_epoch(tmp_path):
    run = RunDir.create(tmp_path, "exp")
    writer = MetricsWriter(run)
    for epoch in (1, 2):
        writer.on_epoch_end(None, {"epoch": epoch, "train_loss": 1.0 / epoch})
        with open(run.path / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        assert [int(r["epoch"]) for r in rows] == list(range(1, epoch + 1))
    assert float(rows[-1]["train_loss"]) == 0.5


def _read(run_dir, name):
    return (run_dir.path / name).read_text()


def test_interrupted_run_keeps_finished_epochs_and_says_so(tmp_path, tiny_experiment):
    with pytest.raises(KeyboardInterrupt):
        run_experiment(tiny_experiment, ["epochs=5", "interrupt_at=2"], out=tmp_path, quiet=True)
    (run_path,) = (tmp_path / "tiny").iterdir()
    run = RunDir(run_path)
    rows = list(csv.DictReader(_read(run, "metrics.csv").splitlines()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    summary = json.loads(_read(run, "summary.json"))
    assert summary["status"] == "interrupted"
    assert json.loads(_read(run, "config.json"))["config"]["interrupt_at"] == 2
    assert not [p for p in run_path.iterdir() if p.name.startswith(".")]


def test_diverged_and_failed_runs_are_recorded(tmp_path, tiny_experiment):
    diverged = run_experiment(tiny_experiment, ["nan_at=2"], out=tmp_path, quiet=True)
    assert diverged.status == "diverged"
    summary = json.loads(_read(diverged.run_dir, "summary.json"))
    assert summary["status"] == "diverged" and "epoch 2" in summary["error"]
    assert len(_read(diverged.run_dir, "metrics.csv").splitlines()) == 2  # header + epoch 1

    failed = run_experiment(tiny_experiment, ["fail_at=1"], out=tmp_path, quiet=True)
    assert failed.status == "failed" and isinstance(failed.error, RuntimeError)
    assert json.loads(_read(failed.run_dir, "summary.json"))["error"] == "RuntimeError: boom"
    assert failed.run_dir.path != diverged.run_dir.path


def test_complete_run_has_every_file(tmp_path, tiny_experiment):
    outcome = run_experiment(tiny_experiment, [], seed=3, out=tmp_path, quiet=True)
    assert outcome.status == "complete"
    assert outcome.run_dir.files() == ["config.json", "metrics.csv", "model.pt", "summary.json"]
    summary = json.loads(_read(outcome.run_dir, "summary.json"))
    assert summary["seed"] == 3 and summary["versions"]["torch"]
    assert summary["status"] == "complete" and summary["epoch"] == 3
