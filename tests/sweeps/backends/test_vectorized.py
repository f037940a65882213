"""The vectorized backend trains each variant exactly as a solo `reglab run dropout` would."""

from __future__ import annotations

import pytest
import torch

from reglab.experiments import RunContext, get_experiment
from reglab.experiments.dropout_mlp_stacked import DropoutMLPVectorized
from reglab.runs.runner import make_config
from reglab.sweeps import get_spec, make_trials, parse_grid, parse_select, run_sweep
from reglab.sweeps.backends.vectorized import vectorizable

BASE = {"epochs": 1, "train_subset": 768, "batch_size": 64, "val_fraction": 0.25}
VARIANTS = [
    {"p1": 0.2, "p2": 0.5, "lr": 0.5, "seed": 4},
    {"p1": 0.0, "p2": 0.7, "lr": 0.3, "seed": 7},
    {"p1": 0.5, "p2": 1.0, "lr": 0.1, "seed": 11},
]


def test_vectorized_equals_sequential_solo_runs(fashion):
    configs = [make_config("dropout", {**BASE, **v}) for v in VARIANTS]
    outcomes, stack = DropoutMLPVectorized().train_stack(configs, torch.device("cpu"))
    for v, config in enumerate(configs):
        solo = get_experiment("dropout").run(config, RunContext(device=torch.device("cpu"), quiet=True))
        linears = [m for m in solo.model.modules() if isinstance(m, torch.nn.Linear)]
        for i, lin in enumerate(linears):
            # Same init, masks, batch order and SGD: the weights agree to float32 rounding.
            torch.testing.assert_close(stack.W[i][v].detach(), lin.weight.detach().t(), rtol=0, atol=1e-6)
            torch.testing.assert_close(stack.b[i][v].detach(), lin.bias.detach(), rtol=0, atol=1e-6)
        assert outcomes[v]["status"] == "complete"
        vec = outcomes[v]["summary"]
        for key in ("train_loss", "val_loss", "test_loss"):
            assert vec[key] == pytest.approx(solo.summary[key], rel=1e-5)
        for key in ("train_acc", "val_acc", "test_acc"):
            assert vec[key] == pytest.approx(solo.summary[key], abs=1.5 / 768)
    # The variants really differ (so the comparison above is not vacuous).
    assert len({round(o["summary"]["train_loss"], 6) for o in outcomes}) == 3


def test_auto_picks_vectorized_only_for_one_architecture(fashion, tmp_path):
    spec = get_spec("dropout")
    cfg_type = get_experiment("dropout").config_type
    same = make_trials("dropout", parse_grid(["p1=0.1,0.5", "lr=0.1,0.5", "epochs=1"], cfg_type, spec), spec, [4], None)
    mixed = make_trials("dropout", parse_grid(["hidden1=32,64"], cfg_type, spec), spec, [4], None)
    folds = make_trials("dropout", parse_grid(["p1=0.1,0.5"], cfg_type, spec), spec, [4], parse_select("kfold=3"))
    assert vectorizable(spec, "dropout", same) and vectorizable(spec, "dropout", folds)
    assert not vectorizable(spec, "dropout", mixed)

    grid = ["p1=0.0,0.5", "epochs=1", "train_subset=256", "hidden1=32", "hidden2=32"]
    result = run_sweep("dropout", grid, seeds=2, select="val=0.25", out=tmp_path, quiet=True)
    assert result.backend == "vectorized"
    local = run_sweep("dropout", grid, seeds=2, select="val=0.25", backend="local", workers=1, out=tmp_path, quiet=True)
    for a, b in zip(result.rows, local.rows):
        assert (a["p1"], a["seed"], a["status"]) == (b["p1"], b["seed"], "complete")
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
        assert a["test_acc"] == pytest.approx(b["test_acc"], abs=1e-3)
    assert result.report["selected"]["p1"] in (0.0, 0.5)
