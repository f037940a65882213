"""The regularizer zoo: its statistics, where each family acts, and a dry run end to end."""

from __future__ import annotations

import csv
import math
import statistics

import pytest
import torch
from torch import nn

import reglab
from reglab.core.errors import InvalidArgumentError
from reglab.experiments import zoo
from reglab.experiments.zoo import ZooConfig, paired_verdict, select_strength, t_interval
from reglab.experiments.zoo_models import FAMILIES, build_recipe
from reglab.runs.runner import run_experiment
from tests.helpers import assert_figure_labelled, assert_run_files, run_dry

# -- statistics ------------------------------------------------------------------------------


def test_t_interval_is_students():
    mean, half = t_interval([1.0, 2.0, 3.0])  # sd 1, n 3, t(0.975, 2) = 4.303
    assert mean == 2.0 and half == pytest.approx(4.303 / math.sqrt(3), abs=1e-12)
    mean, half = t_interval([0.5] * 40)
    assert (mean, half) == (0.5, 0.0)
    with pytest.raises(InvalidArgumentError, match="`values`"):
        t_interval([1.0])


def test_the_paired_verdict_needs_the_interval_to_exclude_zero():
    base = [0.80, 0.82, 0.84]
    assert paired_verdict([0.81, 0.83, 0.85], base)[2] == "better"  # +0.01 on every seed: no spread
    assert paired_verdict([0.79, 0.81, 0.83], base)[2] == "worse"
    assert paired_verdict([0.83, 0.80, 0.84], base)[2] == "-"  # +0.03, -0.02, 0.00
    diff, half, _ = paired_verdict([0.83, 0.80, 0.84], base)
    diffs = [0.03, -0.02, 0.0]
    assert diff == pytest.approx(0.01 / 3) and half == pytest.approx(4.303 * statistics.stdev(diffs) / math.sqrt(3))


def test_selection_reads_validation_only():
    rows = [
        {"strength": "p=0.1", "val_acc": 0.75, "val_loss": 0.5, "test_acc": 0.95},
        {"strength": "p=0.1", "val_acc": 0.875, "val_loss": 0.5, "test_acc": 0.95},
        {"strength": "p=0.5", "val_acc": 0.875, "val_loss": 0.6, "test_acc": 0.10},
        {"strength": "p=0.5", "val_acc": 0.75, "val_loss": 0.6, "test_acc": 0.10},
        {"strength": "p=0.3", "val_acc": 0.625, "val_loss": 0.1, "test_acc": 0.01},
        {"strength": "p=0.3", "val_acc": 1.0, "val_loss": 0.1, "test_acc": 0.01},
    ]
    # all three have mean val acc 0.8125: the lowest val loss wins; test acc plays no part
    assert select_strength(rows) == "p=0.3"
    rows[0]["val_acc"] = 0.875
    assert select_strength(rows) == "p=0.1"


# -- the config ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "argument"),
    [
        ({"families": ("none", "dropout", "mixup")}, "families"),
        ({"families": ("none", "none")}, "families"),
        ({"networks": ("resnet",)}, "networks"),
        ({"seeds": 1}, "seeds"),
        ({"val_fraction": 0.0}, "val_fraction"),
        ({"dropout_grid": (0.1, 1.0)}, "dropout_grid"),
        ({"l2_grid": ()}, "l2_grid"),
        ({"maxnorm_grid": (0.0,)}, "maxnorm_grid"),
    ],
)
def test_bad_settings_are_refused_with_one_sentence(overrides, argument):
    with pytest.raises(InvalidArgumentError, match=f"argument `{argument}`"):
        ZooConfig(**overrides)


# -- where each family acts ----------------------------------------------------------------


def _modules(model: nn.Module, kind: type) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, kind)]


def _recipe(network: str, **strengths: float):
    return build_recipe(network, strengths, lr=0.1, momentum=0.9, seed=0)


def test_each_family_puts_its_regularizer_in_place():
    assert _modules(_recipe("mlp").model, reglab.StochasticModule) == []
    assert [m.p for m in _modules(_recipe("mlp", dropout=0.3).model, reglab.Dropout)] == [0.3, 0.3, 0.3]
    assert len(_modules(_recipe("mlp", dropconnect=0.3).model, reglab.DropConnect)) == 4
    assert len(_modules(_recipe("cnn", dropconnect=0.3).model, reglab.DropConnect)) == 1
    assert [m.p for m in _modules(_recipe("cnn", dropblock=0.1).model, reglab.DropBlock2d)] == [0.1, 0.1]
    # drop path linear in depth: the first of two blocks gets 0 (no module), the last the full rate
    assert [m.p for m in _modules(_recipe("cnn", droppath=0.4).model, reglab.DropPath)] == pytest.approx([0.4])
    assert [m.p for m in _modules(_recipe("mlp", gaussian=0.2).model, reglab.GaussianDropout)] == [0.2] * 3
    l2 = _recipe("mlp", l2=1e-3)
    assert sorted(g["weight_decay"] for g in l2.optimizer.param_groups) == [0.0, 1e-3]
    assert isinstance(_recipe("mlp", l1=1e-5).penalty, reglab.L1)
    assert _recipe("mlp", label_smoothing=0.1).loss_fn.label_smoothing == 0.1
    assert _recipe("mlp").loss_fn.label_smoothing == 0.0
    assert isinstance(_recipe("mlp", maxnorm=2.0).callbacks[0], reglab.ApplyConstraint)
    stopper = _recipe("mlp", early_stopping=2).callbacks[0]
    assert isinstance(stopper, reglab.EarlyStopping) and stopper.patience == 2


def test_a_seed_gives_every_family_the_same_initial_weights():
    none, l2 = _recipe("cnn"), _recipe("cnn", l2=1e-2)
    for a, b in zip(none.model.parameters(), l2.model.parameters()):
        assert torch.equal(a, b)
    x = torch.rand(4, 784)
    assert _recipe("cnn", dropblock=0.1).model(x).shape == (4, 10)


# -- a dry run end to end ------------------------------------------------------------------


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_dry_run_writes_the_table_selected_on_validation(tmp_path, monkeypatch):
    outcome, figures = run_dry("zoo", tmp_path, monkeypatch)
    summary = assert_run_files(outcome, ["zoo.csv", "zoo.png", "trials.csv", "metrics.csv"])
    assert_figure_labelled(figures["zoo.png"])
    trials = _csv(outcome.run_dir.file("trials.csv"))
    # mlp: 11 families (no DropBlock without feature maps), cnn: 12; dropout has two strengths; 2 seeds
    assert summary["trainings"] == len(trials) == 2 * (12 + 13)
    table = _csv(outcome.run_dir.file("zoo.csv"))
    assert [(r["network"], r["family"]) for r in table] == [("mlp", f) for f in FAMILIES if f != "dropblock"] + [
        ("cnn", f) for f in FAMILIES
    ]
    for network in ("mlp", "cnn"):
        dropout = [r for r in trials if r["network"] == network and r["family"] == "dropout"]
        mean_val = {s: sum(float(r["val_acc"]) for r in dropout if r["strength"] == s) / 2 for s in ("p=0.1", "p=0.5")}
        chosen = next(r for r in table if r["network"] == network and r["family"] == "dropout")
        assert mean_val[chosen["strength"]] == max(mean_val.values())
        combination = next(r for r in table if r["network"] == network and r["family"] == "combination")
        assert combination["strength"] == f"{chosen['strength']}, wd=0.001, c=2"
        none = [float(r["test_acc"]) for r in trials if r["network"] == network and r["family"] == "none"]
        row = next(r for r in table if r["network"] == network and r["family"] == "none")
        assert float(row["test_acc"]) == pytest.approx(sum(none) / 2)
        others = [r for r in table if r["network"] == network and r is not row]
        assert row["vs_none"] == "" and all(r["vs_none"] in ("better", "worse", "-") for r in others)
    metrics = _csv(outcome.run_dir.file("metrics.csv"))
    assert len(metrics) == len(trials)  # one epoch each
    assert {"network", "family", "strength", "seed", "epoch", "val_acc"} <= set(metrics[0])


def test_an_interrupted_zoo_keeps_the_finished_trainings(tmp_path, monkeypatch):
    calls = []
    train_one = zoo._train_one

    def interrupting(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return train_one(*args, **kwargs)

    monkeypatch.setattr(zoo, "_train_one", interrupting)
    outcome = run_experiment(
        "zoo", ["networks=('mlp',)"], out=tmp_path, quiet=True, dry_run=True, device="cpu", reraise_interrupt=False
    )
    assert outcome.status == "interrupted"
    assert len(_csv(outcome.run_dir.file("trials.csv"))) == 2
