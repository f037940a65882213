"""Sweeps in TensorBoard and MLflow: one hyperparameter row per trial, read back
through TensorBoard's EventAccumulator and MlflowClient on a real SQLite store."""

from __future__ import annotations

import pytest

from reglab.loggers import LoggerSpec
from reglab.sweeps import run_sweep
from tests.helpers import mlflow_runs, read_tensorboard


def test_tensorboard_gets_a_session_per_trial_from_worker_processes(tiny_experiment, tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    result = run_sweep(
        tiny_experiment,
        ["lr=0.05,0.2", "epochs=2"],
        seeds=2,
        backend="local",
        workers=2,  # forked workers: each opens its trial's logger from the spec
        out=tmp_path,
        quiet=True,
        logger=LoggerSpec("tensorboard"),
    )
    folders = sorted(p.name for p in (result.path / "tb").iterdir())
    assert folders == ["trial-0000", "trial-0001", "trial-0002", "trial-0003"]
    for row in result.rows:
        run = read_tensorboard(result.path / "tb" / f"trial-{row['trial']:04d}")
        assert run.hparams == {"lr": row["lr"], "epochs": 2.0, "seed": float(row["seed"])}
        assert [s for s, _ in run.scalars["train_loss"]] == [1, 2]  # every epoch, from the trial's fit
        assert run.scalars["test_acc"][-1][1] == pytest.approx(row["test_acc"], rel=1e-6)
        assert run.status == "STATUS_SUCCESS"


def test_vectorized_trials_are_logged_from_their_rows(tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    result = run_sweep(
        "weight-decay",
        ["lambda=0,3", "epochs=5", "num_inputs=20"],
        backend="vectorized",
        select="val=0.2",
        out=tmp_path,
        quiet=True,
        logger=LoggerSpec("tensorboard"),
    )
    assert result.backend == "vectorized"
    for row in result.rows:
        run = read_tensorboard(result.path / "tb" / f"trial-{row['trial']:04d}")
        assert run.hparams == {"lambda": row["lambda"], "epochs": 5.0, "num_inputs": 20.0, "seed": 0.0}
        for key in ("train_loss", "val_loss", "test_loss"):
            assert run.scalars[key] == [(0, pytest.approx(row[key], rel=1e-6))]  # final numbers only
        assert run.status == "STATUS_SUCCESS"


def test_mlflow_nests_one_run_per_trial_under_the_sweep(tiny_experiment, tmp_path):
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    uri = f"sqlite:///{tmp_path}/mlruns.db"
    result = run_sweep(
        tiny_experiment,
        ["lr=0.05,0.2", "fail_at=0,2"],
        backend="local",
        workers=2,
        out=tmp_path / "sweeps",
        quiet=True,
        logger=LoggerSpec("mlflow", tracking_uri=uri),
    )
    runs = mlflow_runs(uri, tiny_experiment)
    parent = runs.pop(f"sweep {result.path.name}")
    assert parent.info.status == "FINISHED"
    assert parent.data.params["grid.lr"] == "[0.05, 0.2]" and parent.data.params["seeds"] == "1"
    assert sorted(runs) == ["trial-0000", "trial-0001", "trial-0002", "trial-0003"]
    for row in result.rows:
        run = runs[f"trial-{row['trial']:04d}"]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.params == {"lr": str(row["lr"]), "fail_at": str(row["fail_at"]), "seed": "0"}
        if row["status"] == "complete":
            assert run.info.status == "FINISHED"
            assert run.data.metrics["test_loss"] == pytest.approx(row["test_loss"])
        else:  # fail_at=2: the finished epochs are there, the run is marked failed
            assert run.info.status == "FAILED" and "test_loss" in run.data.metrics


def test_a_logger_that_cannot_write_costs_no_trial(tiny_experiment, tmp_path, capsys):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    blocker = tmp_path / "a-file"
    blocker.write_text("TensorBoard cannot make folders under a file")
    result = run_sweep(
        tiny_experiment,
        ["lr=0.05,0.2"],
        backend="local",
        workers=1,
        out=tmp_path,
        quiet=True,
        logger=LoggerSpec("tensorboard", log_dir=str(blocker)),
    )
    assert [r["status"] for r in result.rows] == ["complete", "complete"]
    assert capsys.readouterr().err.count("reglab: warning: the TensorBoard logger failed") == 2  # once per trial
