"""``reglab sweep EXPERIMENT --help`` lists what that experiment can sweep."""

from __future__ import annotations

import re

from reglab.cli import main


def _help(capsys, *args):
    capsys.readouterr()
    code = main(["sweep", *args, "--help"])
    return code, capsys.readouterr()


def _line(out: str, key: str) -> list[str]:
    (line,) = [line for line in out.splitlines() if re.match(rf"^  {re.escape(key)}\s", line)]
    return line.split()


def test_weight_decay_lists_its_lambda_alias_and_the_settings_it_sets(capsys):
    code, (out, err) = _help(capsys, "weight-decay")
    assert code == 0 and err == ""
    assert "--seeds SEEDS" in out and "--logger" in out  # the generic options come first
    assert _line(out, "lambda")[:2] == ["lambda", "float"]
    assert _line(out, "lambda")[-2:] == ["[log", "axis]"]
    assert "e.g. lambda=0.0 sets lambdas=(0.0,), versions=('optimizer',)" in out
    assert "(the experiment's defaults: lambdas=(0.0, 3.0), versions=('scratch', 'optimizer'))" in out
    assert _line(out, "lr")[:3] == ["lr", "float", "0.003"] and out.count("[log axis]") == 2
    assert _line(out, "num_inputs")[:3] == ["num_inputs", "int", "200"]
    assert not re.search(r"^  seeds\s", out, re.M)  # fixed in every trial, listed as such
    assert "fixed in every trial: seeds=1" in out
    assert "set by the sweep itself: seed, val_fraction, kfold, fold (--seeds, --select)" in out
    assert "metric: loss, minimised: --select ranks on val_loss (reported: train_loss, val_loss, test_loss)" in out
    assert "vectorized backend: available" in out


def test_dropout_lists_its_settings_metric_and_direction(capsys):
    code, (out, _) = _help(capsys, "dropout")
    assert code == 0
    assert _line(out, "p1")[:3] == ["p1", "float", "0.2"]
    assert _line(out, "hidden1")[:3] == ["hidden1", "int", "256"]
    assert "sweep aliases" not in out
    assert "metric: acc, maximised: --select ranks on val_acc" in out


def test_without_an_experiment_only_the_generic_help_and_an_unknown_one_is_one_sentence(capsys):
    code, (out, _) = _help(capsys)
    assert code == 0 and "--select SELECT" in out and "metric:" not in out
    code, (out, err) = _help(capsys, "nope")
    assert code == 2 and err.startswith("reglab: error: unknown experiment 'nope'") and len(err.splitlines()) == 1
