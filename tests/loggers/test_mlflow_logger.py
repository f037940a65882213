"""MLflowLogger, read back with MlflowClient on a real SQLite tracking store."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from torch import nn

from reglab import L2, BatchIterator, LambdaCallback, fit
from reglab.core.errors import ConfigError, MissingExtraError
from reglab.loggers import LoggerSpec, MLflowLogger
from reglab.runs.runner import run_experiment
from tests.helpers import mlflow_runs

pytest.importorskip("mlflow", reason="the mlflow extra is not installed")

from mlflow.tracking import MlflowClient


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One SQLite store for the module (making its tables takes seconds); each test uses its own experiment."""
    path = tmp_path_factory.mktemp("mlflow") / "mlruns.db"
    return f"sqlite:///{path}"


def _fit(callbacks, epochs=3):
    X, y = torch.randn(32, 3, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 2
    model = nn.Linear(3, 2)
    return fit(
        model,
        BatchIterator(X, y, batch_size=8, seed=0),
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=epochs,
        eval_sets={"test": BatchIterator(X, y, batch_size=32, shuffle=False)},
        penalty=L2(0.01),
        callbacks=callbacks,
        progress=False,
    )


def test_params_metric_history_and_status_of_a_fit(store):
    logger = MLflowLogger(store, "direct", run_name="one", hparams={"p": 0.5, "sizes": (1, 2), "opt": {"lr": 0.1}})
    history = _fit([logger])
    client = MlflowClient(tracking_uri=store)
    run = client.get_run(logger.run_id)
    assert run.info.run_name == "one" and run.info.status == "FINISHED"
    assert run.data.params == {"p": "0.5", "sizes": "(1, 2)", "opt.lr": "0.1"}
    for column in ("train_loss", "train_penalty", "test_acc"):
        got = [(m.step, m.value) for m in client.get_metric_history(logger.run_id, column)]
        assert sorted(got) == [(row["epoch"], pytest.approx(row[column])) for row in history], column
    assert run.data.metrics["test_acc"] == pytest.approx(history.last["test_acc"])


def test_a_run_logs_its_config_epochs_and_summary(tiny_experiment, tmp_path, store):
    spec = LoggerSpec("mlflow", tracking_uri=store, experiment="tiny-run")
    outcome = run_experiment(tiny_experiment, ["l2=0.01"], out=tmp_path, quiet=True, logger=spec)
    runs = mlflow_runs(store, "tiny-run")
    run = runs[outcome.run_dir.path.name]  # named after the run folder
    config = json.loads((outcome.run_dir.path / "config.json").read_text())["config"]
    assert run.data.params == {k: str(v) for k, v in config.items()}
    assert run.data.tags["reglab.run_dir"] == str(outcome.run_dir.path.resolve())
    assert run.data.metrics["train_penalty"] == pytest.approx(outcome.summary["train_penalty"])
    assert run.data.metrics["test_loss"] == pytest.approx(outcome.summary["test_loss"])
    history = MlflowClient(tracking_uri=store).get_metric_history(run.info.run_id, "train_loss")
    assert sorted(m.step for m in history) == [1, 2, 3]
    assert run.info.status == "FINISHED"


def test_a_failed_run_is_marked_failed(tiny_experiment, tmp_path, store):
    spec = LoggerSpec("mlflow", tracking_uri=store, experiment="tiny-fail")
    outcome = run_experiment(tiny_experiment, ["fail_at=2"], out=tmp_path, quiet=True, logger=spec)
    (run,) = mlflow_runs(store, "tiny-fail").values()
    assert outcome.status == "failed" and run.info.status == "FAILED"


def test_a_tracking_store_failing_mid_run_warns_once_and_training_goes_on(store, capsys):
    logger = MLflowLogger(store, "breaks", hparams={"p": 0.5})

    def delete(state, row):  # MLflow refuses to log to a deleted run
        if state.epoch == 1:
            MlflowClient(tracking_uri=store).delete_run(logger.run_id)

    history = _fit([logger, LambdaCallback(on_epoch_end=delete)])
    assert len(history) == 3 and logger.broken
    err = capsys.readouterr().err
    assert err.count("reglab: warning: the MLflow logger failed") == 1
    assert "training goes on and the run directory keeps every result" in err


def test_an_unusable_store_is_refused_before_the_run_folder_exists(tiny_experiment, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    spec = LoggerSpec("mlflow", tracking_uri=f"sqlite:///{tmp_path}/a-file/mlruns.db")
    with pytest.raises(ConfigError, match="could not open the tracking store"):
        run_experiment(tiny_experiment, out=tmp_path / "runs", quiet=True, logger=spec)
    assert not (tmp_path / "runs").exists()


def test_without_mlflow_the_error_names_the_extra(monkeypatch, store):
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)  # as if MLflow were not installed
    with pytest.raises(MissingExtraError, match=r"^the mlflow logger needs MLflow, .*pip install 'reglab\[mlflow\]'$"):
        MLflowLogger(store, "x")
