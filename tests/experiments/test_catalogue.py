"""Every registered experiment, through its --dry-run path: the run directory's
files, a labelled PNG per figure, and a --help listing of its settings."""

from __future__ import annotations

import json

import pytest

from reglab.cli import main
from reglab.engine.checkpoint import load_checkpoint
from reglab.experiments import get_experiment, list_experiments
from tests.helpers import assert_figure_labelled, assert_run_files, run_dry

NAMES = [experiment.name for experiment in list_experiments()]


def test_catalogue_holds_every_experiment_of_the_seed_notes():
    wanted = {
        "dropout-scratch",
        "dropout",
        "curve-fit",
        "weight-decay",
        "linear-regression",
        "softmax",
        "dropout-grid",
        "l1-vs-l2",
        "dropout-equivalence",
        "init-stability",
        "freeze",
        "early-stopping",
        "mc-dropout",
    }
    assert wanted <= set(NAMES), sorted(wanted - set(NAMES))


@pytest.mark.parametrize("name", NAMES)
def test_dry_run_writes_config_summary_and_labelled_plots(name, tmp_path, monkeypatch):
    # An experiment that does not say why it cannot resume must checkpoint its fit.
    resumable = not get_experiment(name).cannot_resume
    outcome, figures = run_dry(name, tmp_path, monkeypatch, checkpoint_every=1 if resumable else 0)
    summary = assert_run_files(outcome, [])
    assert summary["status"] == "complete"
    if resumable:
        assert "checkpoint" not in summary, summary["checkpoint"]
        epochs = (outcome.run_dir.path / "metrics.csv").read_text().count("\n") - 1
        assert load_checkpoint(outcome.run_dir.path / "checkpoint.pt")["epoch"] == epochs
    config = json.loads((outcome.run_dir.path / "config.json").read_text())
    assert config  # the resolved settings are saved
    pngs = sorted(p.name for p in outcome.run_dir.path.glob("*.png"))
    assert pngs, "an experiment writes at least one plot"
    assert sorted(figures) == pngs
    for figure in figures.values():
        assert_figure_labelled(figure)


@pytest.mark.parametrize("name", NAMES)
def test_help_lists_every_setting_with_its_default(name, capsys):
    from dataclasses import fields

    from reglab.experiments import get_experiment

    assert main(["run", name, "--help"]) == 0
    out = capsys.readouterr().out
    lines = out.split("settings (key=value):", 1)[1].splitlines()
    for f in fields(get_experiment(name).config_type):
        row = next((line for line in lines if line.split()[:1] == [f.name]), None)
        assert row is not None, f.name
        assert f.metadata["help"] in row  # each setting is explained beside its default
