"""curve-fit (seed 001): the plain vs dropout net on 20 noisy points."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from reglab import Dropout, InvalidArgumentError
from reglab.experiments import RunContext, get_experiment
from reglab.experiments.curve_fit import CurveFitConfig, curve_net, make_curve_data, train_curve_net
from tests.helpers import assert_figure_labelled, assert_run_files, needs_cuda, run_dry

CPU = torch.device("cpu")


def test_dry_run_writes_config_summary_metrics_and_labelled_plots(tmp_path, monkeypatch):
    outcome, figures = run_dry("curve-fit", tmp_path, monkeypatch)
    summary = assert_run_files(outcome, ["metrics.csv", "fits.png", "test_mse.png"])
    assert set(figures) == {"fits.png", "test_mse.png"}
    for fig in figures.values():
        assert_figure_labelled(fig)
    assert len(figures["fits.png"].get_axes()) == 4  # four checkpoints
    assert summary["seeds"] == 2 and 0 <= summary["dropout_wins"] <= 2
    assert len(outcome.result.table) == 2
    assert "test_loss" not in summary  # flat sweep keys only with one seed


def test_one_seed_reports_the_flat_sweep_keys(tmp_path, monkeypatch):
    outcome, _ = run_dry("curve-fit", tmp_path, monkeypatch, ["seeds=1", "val_size=10"])
    s = outcome.summary
    for key in ("train_loss", "test_loss", "val_loss", "test_loss_plain", "val_loss_plain"):
        assert math.isfinite(s[key]), key
    assert s["test_loss"] == s["test_mse_dropout"][0]
    assert s["test_loss_plain"] == s["test_mse_plain"][0]


def test_data_follow_the_recipe_and_the_seed():
    config = CurveFitConfig(val_size=7)
    data = make_curve_data(config, 3, CPU)
    x, y = data["train"]
    assert x.shape == y.shape == (20, 1) and data["val"][0].shape == (7, 1)
    assert torch.equal(x.squeeze(1), torch.linspace(-1, 1, 20))
    g = torch.Generator().manual_seed(3)
    assert torch.allclose(y, x + 0.3 * torch.randn(20, 1, generator=g))  # train noise first
    assert torch.allclose(data["test"][1], x + 0.3 * torch.randn(20, 1, generator=g))  # then test noise
    assert torch.equal(make_curve_data(config, 3, CPU)["test"][1], data["test"][1])
    assert not torch.equal(make_curve_data(config, 4, CPU)["train"][1], y)


def test_net_has_dropout_after_each_hidden_layer_only_when_p_positive():
    net = curve_net(300, 0.5)
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert all(m.p == 0.5 for m in net if isinstance(m, Dropout))
    assert not any(isinstance(m, Dropout) for m in curve_net(300, 0.0))


def test_training_is_deterministic_for_a_seed():
    config = CurveFitConfig(steps=30, eval_every=10, hidden=16)
    data = make_curve_data(config, 0, CPU)
    a = train_curve_net(config, 0.5, 0, data, CPU)
    b = train_curve_net(config, 0.5, 0, data, CPU)
    assert a["curve"] == b["curve"] and [s for s, _ in a["curve"]] == [10, 20, 30]
    c = train_curve_net(config, 0.5, 1, data, CPU)  # other masks and init
    assert c["test_loss"] != a["test_loss"]


@pytest.mark.parametrize(
    "bad", [{"p": 1.0}, {"p": -0.1}, {"lr": 0.0}, {"val_size": 1}, {"eval_every": 600}, {"seeds": 0}]
)
def test_bad_settings_raise_the_argument_sentence(bad):
    key = next(iter(bad))
    with pytest.raises(InvalidArgumentError, match=f"argument `{key}`"):
        CurveFitConfig(**bad)


@pytest.mark.slow
def test_claim_dropout_net_wins_most_seeds_at_the_notes_lr_0001():
    # Measured on this machine (full 500 steps, 1-300-300-1): dropout wins 9/10
    # seeds (1..10) at lr 0.001 and 6/10 at lr 0.01; here seeds 1-3 at lr 0.001.
    config = CurveFitConfig(lr=0.001, seeds=3, seed=1)
    result = get_experiment("curve-fit").run(config, RunContext(device=CPU, quiet=True))
    s = result.summary
    assert s["dropout_wins"] >= 2, result.table
    assert s["median_test_mse_dropout"] < s["median_test_mse_plain"]
    # The plain net overfits: it fits the training points far below the noise level (0.09).
    assert statistics.median(row["train_mse_plain"] for row in result.table) < 0.09 / 2


@needs_cuda
def test_cuda_runs_are_reproducible_for_a_seed():
    cuda = torch.device("cuda")
    config = CurveFitConfig(steps=30, eval_every=10, hidden=16)
    data = make_curve_data(config, 0, cuda)
    a = train_curve_net(config, 0.5, 0, data, cuda)
    b = train_curve_net(config, 0.5, 0, data, cuda)
    assert a["curve"] == b["curve"] and math.isfinite(a["test_loss"])
