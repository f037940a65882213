"""softmax (seed 003): softmax regression on real Fashion-MNIST."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reglab import InvalidArgumentError
from reglab.experiments import RunContext, get_experiment
from reglab.experiments.softmax import SoftmaxConfig, softmax_regression
from tests.helpers import assert_figure_labelled, assert_run_files, run_dry

CPU = torch.device("cpu")


def test_dry_run_writes_metrics_curves_and_model(tmp_path, monkeypatch):
    outcome, figures = run_dry("softmax", tmp_path, monkeypatch)
    summary = assert_run_files(outcome, ["metrics.csv", "curves.png", "model.pt"])
    assert_figure_labelled(figures["curves.png"])
    assert summary["epochs"] == 1 and 0.0 <= summary["test_acc"] <= 1.0
    assert list(outcome.result.table[0]) == ["epoch", "train_loss", "train_acc", "test_acc"]


def test_validation_split_adds_val_metrics(tmp_path, monkeypatch):
    outcome, _ = run_dry("softmax", tmp_path, monkeypatch, ["val_fraction=0.25"])
    assert 0.0 <= outcome.summary["val_acc"] <= 1.0 and "val_loss" in outcome.summary
    assert "val_acc" in outcome.result.table[0]


def test_model_is_one_linear_layer_with_the_d2l_init():
    torch.manual_seed(0)
    model = softmax_regression()
    linear = model[1]
    assert isinstance(model[0], nn.Flatten) and isinstance(linear, nn.Linear)
    assert tuple(linear.weight.shape) == (10, 784) and torch.equal(linear.bias, torch.zeros(10))
    # The std of 7840 N(0, 0.01^2) draws is within 5 standard errors (0.01/sqrt(2*7840)) of 0.01.
    assert abs(linear.weight.std().item() - 0.01) < 5 * 0.01 / (2 * 7840) ** 0.5
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_claim_two_epochs_reach_078_test_accuracy():
    # Measured here: test accuracy 0.805 after 2 epochs and 0.823 after 10 (seed 0);
    # see docs/experiments.md for the other seeds.
    result = get_experiment("softmax").run(SoftmaxConfig(epochs=2), RunContext(device=CPU, quiet=True))
    assert result.summary["test_acc"] >= 0.78, result.rows
    assert result.rows[1]["train_loss"] < result.rows[0]["train_loss"]


@pytest.mark.parametrize("bad", [{"lr": 0.0}, {"epochs": 0}, {"kfold": 1}, {"train_subset": -1}])
def test_bad_settings_raise_the_argument_sentence(bad):
    key = next(iter(bad))
    with pytest.raises(InvalidArgumentError, match=f"argument `{key}`"):
        SoftmaxConfig(**bad)
