"""Helpers for the experiment tests: run an experiment's --dry-run path into a
temporary folder and check the files and figures it produced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reglab.runs.run_dir import RunDir
from reglab.runs.runner import run_experiment


def run_dry(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides=(), **kwargs: Any):
    """``run_experiment(name, dry_run=True)`` into ``tmp_path``; returns
    ``(outcome, figures)`` where ``figures`` maps file names to the Figure objects saved."""
    figures: dict[str, Any] = {}
    original = RunDir.save_figure

    def capture(self, file_name, figure):
        figures[file_name] = figure
        return original(self, file_name, figure)

    monkeypatch.setattr(RunDir, "save_figure", capture)
    outcome = run_experiment(name, overrides, out=tmp_path, quiet=True, dry_run=True, device="cpu", **kwargs)
    assert outcome.status == "complete", outcome.summary.get("error")
    return outcome, figures


def assert_run_files(outcome, expected: list[str]) -> dict[str, Any]:
    """The run directory holds config.json, summary.json and ``expected``; returns summary.json."""
    path = outcome.run_dir.path
    for name in ["config.json", "summary.json", *expected]:
        assert (path / name).is_file(), f"{name} missing from {sorted(p.name for p in path.iterdir())}"
        assert (path / name).stat().st_size > 0
    return json.loads((path / "summary.json").read_text())


def assert_figure_labelled(figure: Any) -> None:
    """Every axes of ``figure`` has a title, both axis labels and a legend with entries."""
    axes = figure.get_axes()
    assert axes
    for ax in axes:
        assert ax.get_title(), "an axes without a title"
        assert ax.get_xlabel() and ax.get_ylabel(), f"unlabelled axes {ax.get_title()!r}"
        legend = ax.get_legend()
        assert legend is not None and legend.get_texts(), f"no legend on {ax.get_title()!r}"
