"""TensorBoardLogger, read back with TensorBoard's own EventAccumulator."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from torch import nn

from reglab import L2, BatchIterator, LambdaCallback, fit
from reglab.core.errors import InvalidArgumentError, MissingExtraError
from reglab.loggers import LoggerSpec, TensorBoardLogger
from reglab.runs.runner import run_experiment
from tests.helpers import read_tensorboard

pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")


def _fit(callbacks, epochs=3, fail_at=0):
    """Three epochs of a linear classifier with an L2 penalty; RuntimeError at the end of epoch ``fail_at``."""

    def fail(state, row):
        if state.epoch == fail_at:
            raise RuntimeError("boom")

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
        callbacks=[*callbacks, LambdaCallback(on_epoch_end=fail)],
        progress=False,
    )


def test_every_column_is_a_scalar_per_epoch_and_the_hparams_form_a_session(tmp_path):
    logger = TensorBoardLogger(tmp_path / "run", hparams={"p": 0.5, "sizes": (1, 2), "mc": True, "opt": {"lr": 0.1}})
    history = _fit([logger])
    run = read_tensorboard(tmp_path / "run")
    for column in ("train_loss", "train_acc", "train_penalty", "test_loss", "test_acc"):
        expected = [(row["epoch"], row[column]) for row in history]
        assert run.scalars[column] == [(s, pytest.approx(v, rel=1e-6)) for s, v in expected], column
    assert "epoch" not in run.scalars and "seconds" not in run.scalars
    assert run.hparams == {"p": 0.5, "sizes": "(1, 2)", "mc": True, "opt.lr": 0.1}
    assert run.hparams["mc"] is True  # a bool, not the number 1
    assert run.status == "STATUS_SUCCESS" and logger.closed


def test_a_failed_fit_ends_the_session_as_a_failure_with_its_finished_epochs(tmp_path):
    logger = TensorBoardLogger(tmp_path, hparams={"p": 0.5})
    with pytest.raises(RuntimeError, match="boom"):
        _fit([logger], fail_at=2)
    run = read_tensorboard(tmp_path)
    assert [s for s, _ in run.scalars["test_acc"]] == [1, 2]
    assert run.status == "STATUS_FAILURE"


def test_a_second_fit_continues_the_steps_and_close_adds_the_final_metrics(tmp_path):
    logger = TensorBoardLogger(tmp_path, hparams={"p": 0.5}, close_after_fit=False)
    _fit([logger], epochs=2)
    last = _fit([logger], epochs=2).last
    logger.close({"val_acc": 0.75, "test_acc": last["test_acc"], "train_seconds": 3.0, "note": "x"}, "interrupted")
    run = read_tensorboard(tmp_path)
    assert [s for s, _ in run.scalars["train_loss"]] == [1, 2, 3, 4]
    assert run.scalars["val_acc"] == [(4, 0.75)]  # new final numbers at the last step
    assert len(run.scalars["test_acc"]) == 4  # an unchanged final value is not logged twice
    assert "train_seconds" not in run.scalars and "note" not in run.scalars
    assert run.status == "STATUS_FAILURE"  # the plugin has no "aborted"


def test_a_run_logs_its_config_epochs_and_summary_into_its_tb_folder(tiny_experiment, tmp_path):
    outcome = run_experiment(tiny_experiment, ["l2=0.01"], out=tmp_path, quiet=True, logger=LoggerSpec("tensorboard"))
    run = read_tensorboard(outcome.run_dir.path / "tb")
    config = json.loads((outcome.run_dir.path / "config.json").read_text())["config"]
    assert run.hparams == {k: float(v) if not isinstance(v, bool) else v for k, v in config.items()}
    metrics = outcome.run_dir.path / "metrics.csv"
    assert len(run.scalars["train_penalty"]) == len(metrics.read_text().splitlines()) - 1 == 3
    assert run.scalars["test_loss"][-1][1] == pytest.approx(outcome.summary["test_loss"], rel=1e-6)
    assert run.status == "STATUS_SUCCESS"


def test_an_interrupted_run_records_the_abort(tiny_experiment, tmp_path):
    outcome = run_experiment(
        tiny_experiment,
        ["interrupt_at=2"],
        out=tmp_path,
        quiet=True,
        reraise_interrupt=False,
        logger=LoggerSpec("tensorboard"),
    )
    run = read_tensorboard(outcome.run_dir.path / "tb")
    assert outcome.status == "interrupted" and run.status == "STATUS_FAILURE"
    assert [s for s, _ in run.scalars["train_loss"]] == [1, 2]


def test_bad_arguments_and_a_missing_extra_get_one_sentence(monkeypatch, tmp_path):
    with pytest.raises(InvalidArgumentError, match="argument `log_dir`"):
        TensorBoardLogger("")
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if TensorBoard were not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'reglab\[tensorboard\]'$"):
        TensorBoardLogger(tmp_path)
