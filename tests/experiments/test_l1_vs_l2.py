"""l1-vs-l2 (seeds 001/003/004): L1 and L2 of matched strength on weight-decay's regression problem."""

from __future__ import annotations

import math

import pytest
import torch

from reglab import InvalidArgumentError
from reglab.experiments import RunContext, get_experiment
from reglab.experiments.l1_vs_l2 import L1VsL2Config, soft_threshold, sparsity, train_penalized
from reglab.experiments.weight_decay import WeightDecayConfig, train_one
from tests.helpers import assert_figure_labelled, assert_run_files, needs_cuda, run_dry

CPU = torch.device("cpu")


def test_dry_run_writes_files_and_a_log_count_histogram(tmp_path, monkeypatch):
    outcome, figures = run_dry("l1-vs-l2", tmp_path, monkeypatch)
    summary = assert_run_files(outcome, ["metrics.csv", "histogram.png"])
    assert list(figures) == ["histogram.png"]
    fig = figures["histogram.png"]
    assert_figure_labelled(fig)
    (ax,) = fig.get_axes()
    assert ax.get_yscale() == "log" and len(ax.get_legend().get_texts()) == 3
    assert [r["penalty"] for r in summary["runs"]] == ["none", "l2", "l1"]
    for key in ("train_loss", "test_loss", "sparsity_l1", "sparsity_l2", "sparsity_none"):
        assert math.isfinite(summary[key]), key
    assert "val_loss" not in summary
    lines = (outcome.run_dir.path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "penalty,seed,epoch,train_loss,test_loss,sparsity"
    assert len(lines) == 1 + 3 * 2  # dry run: 10 epochs, a row every 5


def test_single_strength_reports_the_l1_models_flat_keys_with_a_split(tmp_path, monkeypatch):
    outcome, _ = run_dry("l1-vs-l2", tmp_path, monkeypatch, ["strength=0.5", "val_fraction=0.25"])
    s = outcome.summary
    l1 = next(r for r in s["runs"] if r["penalty"] == "l1")
    assert s["strength"] == 0.5
    for key in ("train_loss", "test_loss", "val_loss"):
        assert s[key] == l1[key] and math.isfinite(s[key])
    assert s["sparsity_l1"] == l1["sparsity"]


def test_soft_threshold_is_the_l1_proximal_map():
    w = torch.tensor([-2.0, -0.3, 0.0, 0.1, 0.5, 3.0], dtype=torch.float64)
    out = soft_threshold(w.clone(), 0.4)
    torch.testing.assert_close(out, torch.tensor([-1.6, 0.0, 0.0, 0.0, 0.1, 2.6], dtype=torch.float64))
    # It minimises t*|u| + (u - v)^2 / 2 elementwise: check against a fine grid.
    grid = torch.linspace(-4, 4, 80001, dtype=torch.float64)
    for v, u in zip(w, out):
        objective = 0.4 * grid.abs() + (grid - v) ** 2 / 2
        assert abs(grid[objective.argmin()].item() - u.item()) <= 1e-4
    assert sparsity(out, 1e-3) == pytest.approx(3 / 6)


def test_l2_run_equals_weight_decay_with_the_same_lambda():
    # Same data, init and batch order as weight-decay; lam/2*||w||^2 in the loss == SGD weight_decay=lam.
    mine = train_penalized(L1VsL2Config(strength=3.0), "l2", 1, CPU)
    ref = train_one(WeightDecayConfig(), 3.0, "optimizer", 1, CPU)
    torch.testing.assert_close(mine["w"], ref["w"], rtol=1e-4, atol=1e-5)
    assert mine["test_loss"] == pytest.approx(ref["test_loss"], rel=1e-4)


def test_proximal_l1_step_matches_an_ista_step_in_float64():
    # One epoch with batch = all samples is one step: w1 = soft(w0 - lr * grad, lr * lam).
    config = L1VsL2Config(n_train=20, batch_size=20, epochs=1, eval_every=1, lr=0.01, strength=2.0)
    run = train_penalized(config, "l1", 0, CPU)
    from reglab.experiments.weight_decay import init_params, make_regression_problem

    X, y = (t.double() for t in make_regression_problem(config.problem(), 0, CPU)[:2])
    w0, b0 = (t.detach().double() for t in init_params(200, 0, CPU))
    r = X @ w0 + b0 - y
    w1 = soft_threshold(w0 - 0.01 * X.T @ r / 20, 0.01 * 2.0)
    torch.testing.assert_close(run["w"].double(), w1, rtol=1e-5, atol=1e-6)
    assert (run["w"] == 0).sum() == (w1 == 0).sum() > 0


def test_subgradient_l1_leaves_no_weight_exactly_zero():
    run = train_penalized(L1VsL2Config(prox=False), "l1", 0, CPU)
    assert (run["w"] == 0).sum() == 0
    prox = train_penalized(L1VsL2Config(prox=True), "l1", 0, CPU)
    assert (prox["w"] == 0).float().mean() > 0.5


def test_claim_l1_is_far_sparser_than_l2_over_three_seeds():
    # Measured here (default strength 1, seeds 0-4): sparsity L1 0.755-0.845, L2 0.00-0.02, none 0.00-0.005.
    config = L1VsL2Config(seeds=3, seed=0)
    result = get_experiment("l1-vs-l2").run(config, RunContext(device=CPU, quiet=True))
    for seed in range(3):
        row = {r["penalty"]: r for r in result.table if r["seed"] == seed}
        assert row["l1"]["sparsity"] >= 0.5, row
        assert row["l1"]["sparsity"] >= 3 * row["l2"]["sparsity"] + 0.3, row
        assert row["none"]["sparsity"] <= 0.05, row
        # Matched strength: both shrink w a lot compared with no penalty (||w|| ~ 12 there).
        assert row["l1"]["w_norm"] < 0.5 * row["none"]["w_norm"] and row["l2"]["w_norm"] < 0.5 * row["none"]["w_norm"]


@pytest.mark.parametrize(
    "bad",
    [{"strength": -1.0}, {"zero_tol": 0.0}, {"prox": 1}, {"val_fraction": 0.99}, {"eval_every": 1000}, {"bins": 0}],
)
def test_bad_settings_raise_the_argument_sentence(bad):
    key = next(iter(bad))
    with pytest.raises(InvalidArgumentError, match=f"argument `{key}`"):
        L1VsL2Config(**bad)


@needs_cuda
def test_a_cuda_run_matches_the_cpu_run():
    config = L1VsL2Config(epochs=20)
    cpu = train_penalized(config, "l1", 0, CPU)
    gpu = train_penalized(config, "l1", 0, torch.device("cuda"))
    assert gpu["w"].device.type == "cuda"
    torch.testing.assert_close(gpu["w"].cpu(), cpu["w"], rtol=1e-3, atol=1e-4)
