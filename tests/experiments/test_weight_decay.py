"""weight-decay (seed 004, d2l): L2 on the weight of a 200-input linear model fitted to 20 samples."""

from __future__ import annotations

import math

import pytest
import torch

from reglab import InvalidArgumentError, synthetic_linear
from reglab.data.splits import validation_split
from reglab.engine.seeding import stream_seed
from reglab.experiments import RunContext, get_experiment
from reglab.experiments.weight_decay import (
    WeightDecayConfig,
    batch_orders,
    half_squared_norm,
    init_params,
    make_regression_problem,
    squared_loss,
    train_one,
)
from tests.helpers import assert_figure_labelled, assert_run_files, needs_cuda, run_dry

CPU = torch.device("cpu")


def test_dry_run_writes_files_and_a_labelled_log_scale_plot(tmp_path, monkeypatch):
    outcome, figures = run_dry("weight-decay", tmp_path, monkeypatch)
    summary = assert_run_files(outcome, ["metrics.csv", "loss.png"])
    assert list(figures) == ["loss.png"]
    fig = figures["loss.png"]
    assert_figure_labelled(fig)
    assert len(fig.get_axes()) == 2 and all(ax.get_yscale() == "log" for ax in fig.get_axes())
    assert len(summary["runs"]) == 4 and set(summary["by_lambda"]) == {"0", "3"}
    assert "test_loss" not in summary  # flat keys only for a single run
    lines = (outcome.run_dir.path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "lambda,version,seed,epoch,train_loss,test_loss"
    assert len(lines) == 1 + 4 * 2  # dry run: 10 epochs, a row every 5


def test_single_run_reports_flat_sweep_keys_with_a_validation_split(tmp_path, monkeypatch):
    outcome, _ = run_dry(
        "weight-decay", tmp_path, monkeypatch, ["lambdas=(3,)", "versions=('optimizer',)", "val_fraction=0.25"]
    )
    s = outcome.summary
    for key in ("train_loss", "test_loss", "val_loss", "w_norm"):
        assert math.isfinite(s[key]), key
    assert s["runs"][0]["lambda"] == 3.0 and s["runs"][0]["version"] == "optimizer"


def test_problem_is_drawn_from_one_generator_in_the_documented_order():
    config = WeightDecayConfig(kfold=4, fold=1)
    X, y, Xt, yt, Xv, yv = make_regression_problem(config, 7, CPU)
    g = torch.Generator().manual_seed(7)
    w = torch.full((200,), 0.01)
    X0, y0 = synthetic_linear(w, 0.05, 20, 0.01, generator=g)
    Xt0, yt0 = synthetic_linear(w, 0.05, 100, 0.01, generator=g)
    train_idx, val_idx = validation_split(20, kfold=4, fold=1)
    assert torch.equal(X, X0[train_idx]) and torch.equal(y, y0[train_idx])
    assert torch.equal(Xv, X0[val_idx]) and torch.equal(yv, y0[val_idx])
    assert torch.equal(Xt, Xt0) and torch.equal(yt, yt0)
    assert X.shape == (15, 200) and Xv.shape == (5, 200) and Xt.shape == (100, 200)
    assert make_regression_problem(WeightDecayConfig(), 7, CPU)[4] is None


def test_init_and_batch_order_use_their_own_documented_streams():
    w, b = init_params(200, 3, CPU)
    expected = torch.randn(200, 1, generator=torch.Generator().manual_seed(stream_seed(3, 1)))
    assert torch.equal(w, expected) and torch.equal(b, torch.zeros(1)) and w.requires_grad and b.requires_grad
    # Not the data stream: the initial weights are not the first data features.
    X = make_regression_problem(WeightDecayConfig(), 3, CPU)[0]
    assert not torch.equal(w.detach().squeeze(1), X[0])
    orders = batch_orders(20, 3, 3)
    g = torch.Generator().manual_seed(stream_seed(3, 2))
    assert torch.equal(orders, torch.stack([torch.randperm(20, generator=g) for _ in range(3)]))
    assert len({stream_seed(s, k) for s in range(50) for k in range(3)}) == 150


def test_mean_form_equals_d2l_sum_form_gradient():
    # d2l: l = squared_loss + lambd * l2_penalty(w) per sample; l.sum().backward(); step lr * grad / batch_size.
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(5, 200, generator=g, dtype=torch.float64), torch.randn(5, 1, generator=g, dtype=torch.float64)
    w = torch.randn(200, 1, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    (squared_loss(X @ w + b, y) + 3.0 * half_squared_norm(w)).sum().backward()
    d2l = [w.grad / 5, b.grad / 5]
    w.grad = b.grad = None
    (squared_loss(X @ w + b, y).mean() + 3.0 * half_squared_norm(w)).backward()
    torch.testing.assert_close(w.grad, d2l[0], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(b.grad, d2l[1], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(half_squared_norm(w), 0.5 * torch.linalg.vector_norm(w) ** 2)


@pytest.mark.parametrize("lam", [0.0, 3.0])
def test_scratch_and_optimizer_versions_agree_to_float_tolerance(lam):
    config = WeightDecayConfig()
    a = train_one(config, lam, "scratch", 1, CPU)
    b = train_one(config, lam, "optimizer", 1, CPU)
    # float32, 400 steps: differences are rounding only (decaying the bias too moves b by ~0.1 here).
    torch.testing.assert_close(a["w"], b["w"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(a["b"], b["b"], rtol=1e-4, atol=1e-5)
    assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-4)


def test_claim_decay_shrinks_w_and_the_test_loss_over_seeds():
    # Measured here (seeds 0-4, default settings): ||w|| 11.6-13.6 without decay,
    # 0.32-0.37 with lambda=3; test loss 66-105 vs 0.06-0.11 (about 1000x lower).
    config = WeightDecayConfig(versions=("optimizer",), seeds=3, seed=0)
    result = get_experiment("weight-decay").run(config, RunContext(device=CPU, quiet=True))
    for seed in range(3):
        plain, decayed = (next(r for r in result.table if r["seed"] == seed and r["lambda"] == lam) for lam in (0, 3))
        assert 10.0 < plain["w_norm"] < 16.0, plain
        assert 0.2 < decayed["w_norm"] < 0.8, decayed
        assert decayed["test_loss"] * 100 < plain["test_loss"], (plain, decayed)
        assert plain["train_loss"] < 1e-3  # without decay the 20 samples are memorised


@pytest.mark.parametrize(
    "bad",
    [
        {"lambdas": (-1.0,)},
        {"lambdas": ()},
        {"versions": ("adam",)},
        {"versions": ("scratch", "scratch")},
        {"val_fraction": 0.99},
        {"kfold": 1},
        {"batch_size": 0},
    ],
)
def test_bad_settings_raise_the_argument_sentence(bad):
    key = next(iter(bad))
    with pytest.raises(InvalidArgumentError, match=f"argument `{key}`"):
        WeightDecayConfig(**bad)


@needs_cuda
def test_a_cuda_run_matches_the_cpu_run():
    # Same data, init and batch order (all drawn on the CPU); only float rounding differs.
    config = WeightDecayConfig(kfold=4, fold=0)
    cpu = train_one(config, 3.0, "optimizer", 0, CPU)
    gpu = train_one(config, 3.0, "optimizer", 0, torch.device("cuda"))
    assert gpu["w"].device.type == "cuda"
    torch.testing.assert_close(gpu["w"].cpu(), cpu["w"], rtol=1e-3, atol=1e-4)
    assert gpu["val_loss"] == pytest.approx(cpu["val_loss"], rel=1e-3)
