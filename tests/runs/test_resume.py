"""Resumable runs: --checkpoint-every, --resume RUN_DIR (bit-identical on the CPU), --from config.json."""

from __future__ import annotations

import csv
import json
import re
import sys

import pytest
import torch

from reglab.cli import main
from reglab.engine.callbacks import Callback
from reglab.experiments import EXPERIMENTS, RunContext
from reglab.runs import sources
from reglab.runs.resume import resume_run, run_from_config
from reglab.runs.runner import run_experiment
from reglab.runs.sources import file_module_name
from tests.helpers import write_user_experiment


def _rows(run_dir) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def _assert_same_weights(a_dir, b_dir) -> None:
    a = torch.load(a_dir / "model.pt", weights_only=True)
    b = torch.load(b_dir / "model.pt", weights_only=True)
    assert list(a) == list(b)
    for name in a:
        assert torch.equal(a[name], b[name]), name


def _json(run_dir, name: str) -> dict:
    return json.loads((run_dir / name).read_text())


def test_tiny_run_interrupted_then_resumed_is_bit_identical(tiny_experiment, tmp_path):
    options = dict(out=tmp_path, quiet=True, device="cpu")
    reference = run_experiment("tiny", ["epochs=4"], **options)
    interrupted = run_experiment(
        "tiny", ["epochs=4", "interrupt_at=3"], checkpoint_every=1, reraise_interrupt=False, **options
    )
    run = interrupted.run_dir.path
    assert interrupted.status == "interrupted" and len(_rows(run)) == 3
    # The interrupt came from a callback at epoch 3's end, before the checkpoint's turn: epoch 2 is saved.
    resumed = resume_run(run, ["interrupt_at=0"], quiet=True)
    assert resumed.status == "complete" and resumed.run_dir.path == run
    assert _rows(run) == _rows(reference.run_dir.path)
    _assert_same_weights(run, reference.run_dir.path)
    for record in (_json(run, "config.json"), _json(run, "summary.json")):
        (entry,) = record["resumes"]
        assert entry["from_epoch"] == 2 and entry["previous_status"] == "interrupted"
        assert entry["overrides"] == {"interrupt_at": 0}
    assert _json(run, "config.json")["config"]["interrupt_at"] == 0
    assert _json(run, "summary.json")["status"] == "complete"


class _InterruptAtStep(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, state):
        if state.step == self.step:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_dropout_dry_run_interrupted_mid_epoch_resumes_bit_identically(fashion, tmp_path, monkeypatch):
    """The real experiment: dropout masks from the global RNG, a shuffled BatchIterator,
    an interrupt in the middle of epoch 3 with a checkpoint every 2 epochs."""
    settings = ["epochs=4", "train_subset=512", "hidden1=32", "hidden2=32", "batch_size=64"]  # 8 steps an epoch
    options = dict(out=tmp_path, quiet=True, device="cpu", dry_run=True)
    reference = run_experiment("dropout", settings, **options)

    callbacks = RunContext.callbacks
    monkeypatch.setattr(RunContext, "callbacks", lambda self, **kw: [*callbacks(self, **kw), _InterruptAtStep(20)])
    interrupted = run_experiment("dropout", settings, checkpoint_every=2, reraise_interrupt=False, **options)
    monkeypatch.setattr(RunContext, "callbacks", callbacks)
    run = interrupted.run_dir.path
    assert interrupted.status == "interrupted" and len(_rows(run)) == 2

    resumed = resume_run(run, quiet=True)
    assert resumed.status == "complete"
    assert _json(run, "summary.json")["resumes"][0]["from_epoch"] == 2
    assert _rows(run) == _rows(reference.run_dir.path)
    _assert_same_weights(run, reference.run_dir.path)
    assert resumed.summary["test_acc"] == reference.summary["test_acc"]


@pytest.mark.slow
def test_early_stopping_resumes_its_stopper(fashion, tmp_path, monkeypatch):
    """A stateful callback (the experiment's EarlyStopping probe) continues with the same decisions."""
    options = dict(out=tmp_path, quiet=True, device="cpu", dry_run=True)
    reference = run_experiment("early-stopping", ["epochs=5"], **options)
    callbacks = RunContext.callbacks
    monkeypatch.setattr(RunContext, "callbacks", lambda self, **kw: [*callbacks(self, **kw), _InterruptAtStep(14)])
    interrupted = run_experiment("early-stopping", ["epochs=5"], checkpoint_every=1, reraise_interrupt=False, **options)
    monkeypatch.setattr(RunContext, "callbacks", callbacks)
    assert interrupted.status == "interrupted"
    resumed = resume_run(interrupted.run_dir.path, quiet=True)
    for key in ("best_epoch", "stop_epoch", "stop_reason", "test_loss", "end_test_loss"):
        assert resumed.summary[key] == reference.summary[key], key
    assert _rows(interrupted.run_dir.path) == _rows(reference.run_dir.path)
    _assert_same_weights(interrupted.run_dir.path, reference.run_dir.path)


def test_a_diverged_run_resumes_with_a_change(tiny_experiment, tmp_path, capsys):
    run = run_experiment("tiny", ["epochs=4", "nan_at=3"], out=tmp_path, quiet=True, checkpoint_every=1)
    assert run.status == "diverged"
    path = run.run_dir.path
    assert main(["run", "--resume", str(path), "nan_at=0", "lr=0.01", "--quiet"]) == 0
    assert [row["epoch"] for row in _rows(path)] == ["1", "2", "3", "4"]
    entry = _json(path, "summary.json")["resumes"][0]
    assert entry["previous_status"] == "diverged" and entry["from_epoch"] == 2
    assert entry["overrides"] == {"lr": 0.01, "nan_at": 0}


def test_resume_and_from_find_a_users_experiment_again(tmp_path, user_experiments, monkeypatch, capsys):
    file = write_user_experiment(tmp_path / "exp.py")
    monkeypatch.chdir(tmp_path)
    first = run_experiment("exp.py:user-linear", ["epochs=3"], out=tmp_path / "runs", quiet=True, checkpoint_every=2)
    config_file = first.run_dir.path / "config.json"
    # A fresh process: only config.json knows where the experiment comes from.
    EXPERIMENTS._entries.pop("user-linear")
    sources._loaded.clear()
    del sys.modules[file_module_name(file)]
    monkeypatch.chdir(tmp_path / "runs")
    again = run_from_config(config_file, ["lr=0.2"], out=tmp_path / "runs", quiet=True, device="cpu")
    assert again.status == "complete" and again.run_dir.path != first.run_dir.path
    record = _json(again.run_dir.path, "config.json")
    assert record["source"] == str(file) and record["config"]["lr"] == 0.2 and record["config"]["epochs"] == 3

    code = main(["run", "--from", str(config_file), "--quiet", "--out", str(tmp_path / "runs")])
    assert code == 0
    newest = sorted((tmp_path / "runs" / "user-linear").iterdir())[-1]
    assert _rows(newest) == _rows(first.run_dir.path)  # the same configuration, the same numbers


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["run", "--resume", "{complete}"],
            r"is complete after its 2 epochs; give epochs=N with N > 2 to train it "
            r"further \(received epochs=2\), or re-run its configuration with --from",
        ),
        (["run", "--resume", "{complete}", "epochs=1"], r"N > 2 to train it further \(received epochs=1\)"),
        (["run", "--resume", "{plain}"], r"was not checkpointed; start runs with --checkpoint-every N"),
        (["run", "--resume", "{plain}", "--seed", "3"], r"--seed cannot change them \(use key=value\)"),
        (["run", "--from", "{unknown}"], r"records an experiment that cannot be found: unknown experiment 'gone'"),
        (["run", "tiny", "--from", "{plain}"], r"give one of EXPERIMENT, --resume RUN_DIR and --from CONFIG"),
        (["run", "linear-regression", "--checkpoint-every", "1"], r"'linear-regression' cannot be checkpointed: it"),
        (["run", "--resume", "{nowhere}"], r"is not a run directory"),
    ],
)
def test_refusals_are_one_sentence_and_create_nothing(tiny_experiment, tmp_path, capsys, args, message):
    runs = tmp_path / "runs"
    folders = {
        "complete": run_experiment("tiny", ["epochs=2"], out=runs, quiet=True, checkpoint_every=1).run_dir.path,
        "plain": run_experiment("tiny", ["interrupt_at=1"], out=runs, quiet=True, reraise_interrupt=False).run_dir.path,
        "nowhere": tmp_path / "nowhere",
        "unknown": tmp_path / "config.json",
    }
    (tmp_path / "config.json").write_text(json.dumps({"experiment": "gone", "config": {}}))
    before = sorted(runs.rglob("*"))
    capsys.readouterr()
    code = main([a.format(**folders) for a in args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert re.search(message, err), err
    assert sorted(runs.rglob("*")) == before


def test_a_resumed_run_goes_on_logging_to_tensorboard_where_it_left_off(tiny_experiment, tmp_path, capsys):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from reglab.loggers import LoggerSpec
    from tests.helpers import read_tensorboard

    first = run_experiment(
        "tiny", ["epochs=4", "interrupt_at=3"], out=tmp_path, quiet=True, checkpoint_every=1,
        reraise_interrupt=False, logger=LoggerSpec("tensorboard"),
    )  # fmt: skip
    run = first.run_dir.path
    assert main(["run", "--resume", str(run), "interrupt_at=0", "--quiet", "--logger", "tensorboard"]) == 0
    # Epoch 3 ran twice (the checkpoint held epoch 2): TensorBoard keeps the resumed session's.
    logged = read_tensorboard(run / "tb").scalars["train_loss"]
    assert [step for step, _ in logged] == [1, 2, 3, 4]
    expected = [float(row["train_loss"]) for row in _rows(run)]
    assert [value for _, value in logged] == pytest.approx(expected, rel=1e-6)
    # (The HParams tab keeps the first session's status: TensorBoard reads a tag's metadata once.)


def test_a_complete_run_trains_further_as_if_started_with_more_epochs(tiny_experiment, tmp_path, capsys):
    reference = run_experiment("tiny", ["epochs=4"], out=tmp_path, quiet=True)
    first = run_experiment("tiny", ["epochs=2"], out=tmp_path, quiet=True, checkpoint_every=2)
    run = first.run_dir.path
    assert first.status == "complete" and len(_rows(run)) == 2
    assert main(["run", "--resume", str(run), "epochs=4", "--quiet"]) == 0
    assert _rows(run) == _rows(reference.run_dir.path)
    _assert_same_weights(run, reference.run_dir.path)
    (entry,) = _json(run, "summary.json")["resumes"]
    assert entry["from_epoch"] == 2 and entry["previous_status"] == "complete" and entry["overrides"] == {"epochs": 4}
