"""Selection: validation / K-fold picks, never the test set; folds cover the data once."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from reglab.data.splits import check_split_settings, validation_split
from reglab.experiments import EXPERIMENTS, Experiment, Result
from reglab.sweeps import SweepSpec, aggregate, get_spec, make_trials, parse_grid, parse_select, run_sweep, select

D, N_TRAIN, N_TEST, TAU, SIGMA = 40, 60, 4000, 0.3, 1.0


@dataclasses.dataclass(frozen=True)
class RidgeConfig:
    """Ridge regression on y = Xw + N(0, SIGMA^2), w ~ N(0, TAU^2 I): lam* = SIGMA^2 / TAU^2."""

    lam: float = 1.0
    seed: int = 0
    val_fraction: float = 0.0
    kfold: int = 0
    fold: int = 0

    def __post_init__(self) -> None:
        check_split_settings(self.val_fraction, self.kfold, self.fold)


def _ridge_run(config: RidgeConfig, ctx) -> Result:
    g = torch.Generator().manual_seed(config.seed)
    w = TAU * torch.randn(D, generator=g, dtype=torch.float64)
    X = torch.randn(N_TRAIN + N_TEST, D, generator=g, dtype=torch.float64)
    y = X @ w + SIGMA * torch.randn(N_TRAIN + N_TEST, generator=g, dtype=torch.float64)
    X, y, Xt, yt = X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:]
    train, val = validation_split(N_TRAIN, val_fraction=config.val_fraction, kfold=config.kfold, fold=config.fold)
    Xa, ya = X[train], y[train]
    w_hat = torch.linalg.solve(Xa.T @ Xa + config.lam * torch.eye(D, dtype=torch.float64), Xa.T @ ya)
    mse = lambda A, b: float(((A @ w_hat - b) ** 2).mean())
    summary = {"train_loss": mse(Xa, ya), "test_loss": mse(Xt, yt)}
    if val is not None:
        summary["val_loss"] = mse(X[val], y[val])
    return Result(summary=summary)


@pytest.fixture
def ridge(monkeypatch):
    entries = dict(EXPERIMENTS._entries)
    entries["ridge"] = Experiment("ridge", "closed-form ridge", RidgeConfig, _ridge_run)
    monkeypatch.setattr(EXPERIMENTS, "_entries", entries)
    return "ridge"


def test_kfold_trials_cover_every_training_sample_once_as_validation(ridge):
    spec = get_spec(ridge)
    trials = make_trials(ridge, parse_grid(["lam=1.0"], RidgeConfig, spec), spec, [0], parse_select("kfold=7"))
    assert len(trials) == 7
    counts = torch.zeros(N_TRAIN, dtype=torch.long)
    for t in trials:
        train, val = validation_split(N_TRAIN, kfold=t.overrides["kfold"], fold=t.overrides["fold"])
        counts[val] += 1
        assert torch.cat([train, val]).sort().values.tolist() == list(range(N_TRAIN))  # a partition
    assert counts.tolist() == [1] * N_TRAIN


@pytest.mark.parametrize("how", ["kfold=4", "val=0.25"])
def test_validation_picks_near_the_known_optimum(ridge, tmp_path, how):
    # The Bayes-optimal ridge strength is SIGMA^2 / TAU^2 = 11.1; the grid steps by 10^0.5.
    result = run_sweep(
        ridge, ["lam=log:0.01:1000:11"], seeds=3, select=how, backend="local", workers=1, out=tmp_path, quiet=True
    )
    report = result.report
    lam_star = SIGMA**2 / TAU**2
    assert abs(math.log10(report["test_optimal"]["lam"] / lam_star)) <= 0.5 + 1e-9
    assert abs(math.log10(report["selected"]["lam"] / lam_star)) <= 0.5 + 1e-9
    # The selected configuration costs little on the test set compared with the spread of the grid.
    tests = [c["test_loss_mean"] for c in result.configurations]
    assert report["test_regret"] <= 0.1 * (max(tests) - min(tests))
    assert "the test set was not used" in report["reason"]


def test_selection_reads_validation_only():
    spec = SweepSpec("x", metric="loss", mode="min")
    configs = [
        {
            "lam": 0.1,
            "seeds": 1,
            "val_loss_mean": 1.0,
            "val_loss_std": 0.0,
            "test_loss_mean": 5.0,
            "test_loss_std": 0.0,
        },
        {
            "lam": 1.0,
            "seeds": 1,
            "val_loss_mean": 2.0,
            "val_loss_std": 0.0,
            "test_loss_mean": 0.5,
            "test_loss_std": 0.0,
        },
    ]
    report = select(configs, ["lam"], spec, parse_select("val=0.2"))
    assert report["selected"]["lam"] == 0.1 and report["test_optimal"]["lam"] == 1.0
    assert report["selected_is_test_optimal"] is False and report["test_regret"] == pytest.approx(4.5)
    none = select(configs, ["lam"], spec, None)
    assert none["selected"] is None and "--select" in none["reason"]


def test_select_needs_split_settings(tiny_experiment, tmp_path):
    from reglab.core.errors import ConfigError

    with pytest.raises(ConfigError, match="no validation split setting"):
        run_sweep(tiny_experiment, ["lr=0.1,0.2"], select="val=0.2", out=tmp_path, quiet=True)
    assert not (tmp_path / tiny_experiment).exists()  # nothing created for a bad sweep


def _row(k, seed, status, val, test, fold=""):
    return {"k": k, "seed": seed, "fold": fold, "status": status, "val_acc": val, "test_acc": test}


def test_a_configuration_stopped_early_is_no_candidate_and_a_repeat_counts_once():
    spec = SweepSpec(metric="acc", mode="max")
    rows = [
        _row(1, 0, "complete", 0.70, 0.70),
        _row(1, 1, "complete", 0.72, 0.71),
        _row(1, 0, "complete", 0.10, 0.10),  # the same seed and fold again (a search's repeat)
        _row(2, 0, "complete", 0.95, 0.95),  # the best numbers, but seed 1 was stopped:
        _row(2, 1, "stopped", 0.40, 0.40),  # trained for fewer epochs, not comparable
        _row(3, 0, "stopped", 0.20, 0.20),  # stopped, then run again to the end
        _row(3, 0, "complete", 0.60, 0.60),
    ]
    configs = aggregate(rows, ["k"], spec)
    by_k = {c["k"]: c for c in configs}
    assert (by_k[1]["seeds"], by_k[1]["val_acc_mean"]) == (2, pytest.approx(0.71))
    assert (by_k[2]["stopped"], by_k[2]["failed"], by_k[3]["stopped"]) == (1, 0, 0)
    report = select(configs, ["k"], spec, parse_select("val=0.2"))
    assert report["selected"]["k"] == 1 and report["test_optimal"]["k"] == 1
    assert "among 2 configuration(s) (1 more stopped early, not candidates)" in report["reason"]
