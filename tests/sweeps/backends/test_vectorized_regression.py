"""The vectorized weight-decay trainer equals solo runs; curve-fit sweeps select on their own validation points."""

from __future__ import annotations

import math

import pytest
import torch

from reglab.core.errors import ConfigError
from reglab.experiments import RunContext, get_experiment
from reglab.experiments.weight_decay import train_one
from reglab.experiments.weight_decay_stacked import WeightDecayVectorized
from reglab.runs.runner import make_config
from reglab.sweeps import get_spec, make_trials, parse_grid, parse_select, read_results, run_sweep
from reglab.sweeps.backends.vectorized import vectorizable

CPU = torch.device("cpu")
# 4 lambdas (each with its own lr) x 2 seeds: every variant differs in data, init, order or step.
VARIANTS = [(lam, lr, seed) for seed in (0, 5) for lam, lr in ((0.0, 0.003), (0.1, 0.01), (1.0, 0.003), (3.0, 0.002))]


def _close_loss(vec: float, solo: float) -> bool:
    """Equal to 1e-5 relative, or within float32 rounding of the predictions: a loss mean(r^2/2)
    moves by |r| * d(y_hat) ~ sqrt(2 loss) * 1e-5 when the predictions (sums of 200 products of
    size ~1) differ by float32 rounding (~1e-5). Matters only for a (nearly) memorised training set."""
    return abs(vec - solo) <= 1e-5 * abs(solo) + 1e-5 * math.sqrt(2 * abs(solo))


def _config(lam: float, lr: float, seed: int, **extra):
    return make_config(
        "weight-decay",
        {
            "lambdas": (lam,),
            "versions": ("optimizer",),
            "lr": lr,
            "seed": seed,
            "epochs": 40,
            "eval_every": 40,
            **extra,
        },
    )


@pytest.mark.parametrize("split", [{}, {"val_fraction": 0.25}, {"kfold": 3, "fold": 1}], ids=["none", "val", "kfold"])
def test_vectorized_equals_solo_runs(split):
    configs = [_config(lam, lr, seed, **split) for lam, lr, seed in VARIANTS]
    outcomes, (w, b) = WeightDecayVectorized().train_stack(configs, CPU)
    for v, config in enumerate(configs):
        solo = train_one(config, config.lambdas[0], "optimizer", config.seed, CPU)
        vec = outcomes[v]["summary"]
        assert outcomes[v]["status"] == "complete"
        # bmm and the solo run's mm (gemv) sum in different orders: float32 rounding, no more.
        torch.testing.assert_close(w[v], solo["w"], rtol=0, atol=1e-5)
        torch.testing.assert_close(b[v], solo["b"], rtol=0, atol=1e-6)
        keys = ["test_loss", "w_norm"] + (["val_loss"] if split else [])
        assert set(vec) >= {"train_loss", *keys} and ("val_loss" in vec) == bool(split)
        for key in keys:
            assert vec[key] == pytest.approx(solo[key], rel=1e-5), key
        assert _close_loss(vec["train_loss"], solo["train_loss"]), (vec["train_loss"], solo["train_loss"])
    # The variants really differ (the comparison is not vacuous) and decay shrinks ||w||.
    norms = [o["summary"]["w_norm"] for o in outcomes]
    assert len({round(n, 4) for n in norms}) == len(norms)
    assert norms[3] < norms[2] < norms[1] < norms[0]


def test_summary_has_the_experiments_flat_keys():
    config = make_config(
        "weight-decay",
        {
            "lambdas": (3.0,),
            "versions": ("optimizer",),
            "epochs": 20,
            "eval_every": 20,
            "val_fraction": 0.25,
            "seed": 2,
        },
    )
    solo = get_experiment("weight-decay").run(config, RunContext(device=CPU, quiet=True)).summary
    vec = WeightDecayVectorized().train([config], CPU)[0]["summary"]
    for key in ("train_loss", "val_loss", "test_loss", "w_norm"):
        assert _close_loss(vec[key], solo[key]), key


def test_a_diverging_variant_is_reported_alone():
    configs = [_config(1.0, 0.003, 0), _config(1.0, 50.0, 0)]
    ok, bad = WeightDecayVectorized().train(configs, CPU)
    assert ok["status"] == "complete" and math.isfinite(ok["summary"]["test_loss"])
    assert bad["status"] == "diverged" and "non-finite" in bad["error"] and "train_loss" in bad["error"]


def test_multi_run_configs_are_not_vectorized():
    spec = get_spec("weight-decay")
    cfg_type = get_experiment("weight-decay").config_type
    assert spec.knob("lambda").overrides(3.0) == {"lambdas": (3.0,), "versions": ("optimizer",)}
    assert spec.base["seeds"] == 1
    lam = make_trials(
        "weight-decay", parse_grid(["lambda=0,3", "epochs=5"], cfg_type, spec), spec, [0, 1], parse_select("kfold=2")
    )
    assert vectorizable(spec, "weight-decay", lam)
    assert all(t.overrides["seeds"] == 1 for t in lam)
    # Without the lambda knob a trial runs two lambdas x two versions: the local backend's job.
    lr = make_trials("weight-decay", parse_grid(["lr=0.001,0.003"], cfg_type, spec), spec, [0], None)
    assert not vectorizable(spec, "weight-decay", lr)
    with pytest.raises(ConfigError, match="one run per trial"):
        WeightDecayVectorized().train([make_config("weight-decay", {})], CPU)


def test_sweep_auto_is_vectorized_and_equals_local(tmp_path):
    grid = ["lambda=0,1,3", "epochs=20", "eval_every=20"]
    vec = run_sweep("weight-decay", grid, seeds=2, select="val=0.25", out=tmp_path / "v", quiet=True)
    loc = run_sweep(
        "weight-decay", grid, seeds=2, select="val=0.25", backend="local", workers=1, out=tmp_path / "l", quiet=True
    )
    assert (vec.backend, loc.backend) == ("vectorized", "local")
    assert len(vec.rows) == len(loc.rows) == 6
    assert read_results(vec.path / "results.csv") == vec.rows  # the stack's rows stored in one rewrite
    for a, b in zip(vec.rows, loc.rows):
        assert (a["lambda"], a["seed"], a["status"]) == (b["lambda"], b["seed"], "complete")
        for key in ("val_loss", "test_loss"):
            assert a[key] == pytest.approx(b[key], rel=1e-5)
        assert _close_loss(a["train_loss"], b["train_loss"])
    assert vec.report["selected"]["lambda"] == loc.report["selected"]["lambda"] == 3.0


def test_curve_fit_sweep_selects_on_its_own_validation_points(tmp_path):
    grid = ["p=0,0.5", "steps=20", "eval_every=10", "hidden=16"]
    result = run_sweep("curve-fit", grid, select="val=0.25", out=tmp_path, quiet=True, workers=1)
    rows = read_results(result.path / "results.csv")
    assert [(r["p"], r["status"]) for r in rows] == [(0.0, "complete"), (0.5, "complete")]
    for row in rows:
        # val=0.25 of 20 training points: 5 extra points with their own noise, never the test set.
        assert row["val_loss"] > 0 and row["val_loss"] != row["test_loss"] and row["train_loss"] > 0
    cfg_type = get_experiment("curve-fit").config_type
    spec = get_spec("curve-fit")
    (trial, *_) = make_trials("curve-fit", parse_grid(["p=0.5"], cfg_type, spec), spec, [1], parse_select("val=0.25"))
    assert trial.overrides["val_size"] == 5 and trial.overrides["seeds"] == 1
    assert result.report["selected"] is not None and "extra validation points" in result.report["reason"]


def test_curve_fit_select_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="no K-fold setting"):
        run_sweep("curve-fit", ["p=0,0.5"], select="kfold=3", out=tmp_path, quiet=True)
    with pytest.raises(ConfigError, match="at least 2"):
        run_sweep("curve-fit", ["p=0,0.5"], select="val=0.05", out=tmp_path, quiet=True)
    assert not (tmp_path / "curve-fit").exists()  # nothing made before the error


def test_l1_vs_l2_sweeps_its_strength_and_selects_on_validation(tmp_path):
    grid = ["strength=0.1,3.0", "epochs=20"]
    result = run_sweep("l1-vs-l2", grid, select="val=0.25", out=tmp_path, quiet=True, workers=1)
    rows = read_results(result.path / "results.csv")
    assert [(r["strength"], r["status"]) for r in rows] == [(0.1, "complete"), (3.0, "complete")]
    for row in rows:
        assert math.isfinite(row["val_loss"]) and row["val_loss"] != row["test_loss"]
    # the sweep's numbers are the experiment's own single-strength run (the L1 model's losses)
    solo = (
        get_experiment("l1-vs-l2")
        .run(
            make_config("l1-vs-l2", {"strength": 3.0, "epochs": 20, "seeds": 1, "val_fraction": 0.25}),
            RunContext(device=CPU, quiet=True),
        )
        .summary
    )
    assert rows[1]["test_loss"] == pytest.approx(solo["test_loss"], rel=1e-6)
    assert result.report["selected"] is not None and "held-out" in result.report["reason"]
