"""dropout-grid (seed 000): hidden sizes x dropout pairs of d2l's dropout MLP."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from reglab.core.errors import ConfigError, InvalidArgumentError
from reglab.experiments import RunContext, get_experiment
from reglab.experiments.dropout_grid import DropoutGridConfig, check_pairs, grid_figure
from reglab.runs.config import apply_overrides, config_from_dict, config_to_dict
from reglab.runs.runner import run_experiment

CPU = RunContext(device=torch.device("cpu"), quiet=True)


def _run(**overrides):
    experiment = get_experiment("dropout-grid")
    return experiment.run(apply_overrides(experiment.default_config(), overrides), CPU)


def test_defaults_are_the_seed_settings():
    c = DropoutGridConfig()
    assert c.hiddens == (256, 512)
    assert c.pairs == ((0.2, 0.5), (0.9, 0.6), (0.1, 0.4), (0.0, 0.0))
    assert (c.lr, c.batch_size, c.epochs, c.init_std) == (0.5, 256, 10, 0.01)


def test_nested_tuples_parse_from_key_value_and_round_trip():
    c = apply_overrides(DropoutGridConfig(), ["pairs=((0.2,0.5),(0,0))", "hiddens=(64,)"])
    assert c.pairs == ((0.2, 0.5), (0.0, 0.0)) and all(isinstance(p, float) for pair in c.pairs for p in pair)
    assert c.hiddens == (64,)
    assert config_from_dict(DropoutGridConfig, config_to_dict(c)) == c
    with pytest.raises(ConfigError, match="setting `pairs` expects a tuple of tuple"):
        apply_overrides(DropoutGridConfig(), ["pairs=(0.2,0.5)"])  # a pair, not a sequence of pairs


@pytest.mark.parametrize("pairs", [(), ((0.2,),), ((0.2, 0.5, 0.1),), ((0.2, 1.0),), ((-0.1, 0.5),)])
def test_bad_pairs_are_one_clear_sentence(pairs):
    with pytest.raises(InvalidArgumentError) as info:
        DropoutGridConfig(pairs=pairs)
    assert str(info.value).startswith("Invalid value received for argument `pairs`. Expected a non-empty sequence")
    assert check_pairs("pairs", [[0, 0.5]]) == ((0.0, 0.5),)


def test_bad_hiddens_name_the_argument():
    for hiddens in [(), (0,), (256, 1.5)]:
        with pytest.raises(InvalidArgumentError, match="argument `hiddens`"):
            DropoutGridConfig(hiddens=hiddens)


def test_dry_run_writes_table_metrics_and_a_labelled_figure(tmp_path):
    outcome = run_experiment("dropout-grid", dry_run=True, out=tmp_path, quiet=True)
    assert outcome.status == "complete", outcome.error
    files = outcome.run_dir.files()
    assert files == ["config.json", "grid.csv", "grid.png", "metrics.csv", "summary.json"]
    summary = json.loads(outcome.run_dir.file("summary.json").read_text())
    assert len(summary["settings"]) == 2  # quick: one width x two pairs
    with outcome.run_dir.file("grid.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["p1"], r["p2"]) for r in rows] == [("0.2", "0.5"), ("0.0", "0.0")]
    with outcome.run_dir.file("metrics.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 2  # one epoch per setting
    for row in summary["settings"]:
        assert row["gap_acc"] == pytest.approx(row["train_eval_acc"] - row["test_acc"])
        assert row["gap_loss"] == pytest.approx(row["test_loss"] - row["train_eval_loss"])
    fig = grid_figure(summary["settings"], title="t")
    for ax in fig.axes:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        assert len(ax.get_legend().get_texts()) == 2
    assert fig.axes[1].get_legend().get_texts()[0].get_text() == "no dropout"


def test_one_setting_reproduces_its_row_of_the_grid_and_reports_flat_keys():
    budget = dict(hiddens=(16,), train_subset=512, test_subset=256, epochs=2, seed=3)
    grid = _run(pairs=((0.2, 0.5), (0.0, 0.0)), **budget)
    single = _run(pairs=((0.0, 0.0),), val_fraction=0.0, **budget)
    assert single.summary["test_acc"] == grid.summary["settings"][1]["test_acc"]
    assert single.summary["train_loss"] == grid.summary["settings"][1]["train_loss"]
    assert "test_acc" not in grid.summary  # flat keys only when there is one setting
    with_val = _run(pairs=((0.0, 0.0),), val_fraction=0.25, **budget)
    assert 0.0 <= with_val.summary["val_acc"] <= 1.0 and with_val.summary["val_loss"] > 0


@pytest.mark.slow
def test_heavy_dropout_trains_slowest_over_three_seeds():
    # Measured (docs/experiments.md): at this budget and at the full one, the
    # (0.9, 0.6) net has the lowest running training accuracy (dropout on) of the
    # grid; the train-test gap ordering is NOT stable across seeds at small budgets.
    for seed in (0, 1, 2):
        r = _run(
            hiddens=(256,), pairs=((0.9, 0.6), (0.0, 0.0)), train_subset=2000, test_subset=1000, epochs=12, seed=seed
        )
        heavy, none = r.summary["settings"]
        assert heavy["train_acc"] < none["train_acc"], (seed, heavy, none)
