"""summary.json records the penalty term when there is one."""

from __future__ import annotations

import csv
import json

import pytest

from reglab.runs.experiment import EXPERIMENTS, Experiment, Result
from reglab.runs.runner import run_experiment
from tests.helpers import TinyConfig


def test_the_last_epochs_penalty_is_in_summary_json(tiny_experiment, tmp_path):
    outcome = run_experiment(tiny_experiment, ["l2=0.01"], out=tmp_path, quiet=True)
    summary = json.loads((outcome.run_dir.path / "summary.json").read_text())
    with (outcome.run_dir.path / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert summary["train_penalty"] == pytest.approx(float(rows[-1]["train_penalty"]), rel=1e-12)
    assert summary["train_penalty"] > 0
    plain = run_experiment(tiny_experiment, out=tmp_path, quiet=True)
    assert (
        "train_penalty" not in plain.summary and "train_penalty" not in (plain.run_dir.path / "metrics.csv").read_text()
    )


def test_an_experiment_summary_without_it_gets_it_from_its_rows(tmp_path, monkeypatch):
    def run(config, ctx):
        return Result(
            summary={"test_loss": 1.0}, rows=[{"epoch": 1, "train_penalty": 0.5}, {"epoch": 2, "train_penalty": 0.25}]
        )

    entries = dict(EXPERIMENTS._entries)
    entries["rows-only"] = Experiment("rows-only", "rows with a penalty", TinyConfig, run)
    monkeypatch.setattr(EXPERIMENTS, "_entries", entries)
    outcome = run_experiment("rows-only", out=tmp_path, quiet=True)
    assert json.loads((outcome.run_dir.path / "summary.json").read_text())["train_penalty"] == 0.25
