"""Per-epoch reports: the reporter sees every epoch, stops a trial when told, and the
row and summary say so."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reglab.data import BatchIterator
from reglab.engine import fit
from reglab.sweeps.reporting import EpochReporter, scheduler_summary
from reglab.sweeps.trial import Trial, run_trial


def _fit(reporter, epochs=5):
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(32, 3, generator=g), torch.randn(32, 1, generator=g)
    model = nn.Linear(3, 1)
    return fit(
        model,
        BatchIterator(X, y, batch_size=8, seed=0),
        loss_fn=nn.MSELoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        epochs=epochs,
        eval_sets={"val": BatchIterator(X, y, batch_size=32, shuffle=False)},
        device="cpu",
        callbacks=[reporter],
        progress=False,
    )


def test_every_epoch_is_reported_and_only_the_last_is_marked_last():
    seen = []
    reporter = EpochReporter(lambda report: seen.append(report) and None)
    history = _fit(reporter)
    assert [(r.step, r.epoch, r.last) for r in seen] == [
        (1, 1, False),
        (2, 2, False),
        (3, 3, False),
        (4, 4, False),
        (5, 5, True),
    ]
    assert [r.metrics["val_loss"] for r in seen] == history.column("val_loss")
    assert "epoch" not in seen[0].metrics and reporter.epochs == 5 and not reporter.stopped


def test_a_reason_stops_training_after_that_epoch():
    reporter = EpochReporter(lambda report: "behind the others" if report.step == 2 else None)
    history = _fit(reporter)
    assert len(history) == 2 and history.stop_reason == "behind the others"
    assert reporter.stop_reason == "behind the others" and reporter.epochs == 2
    assert reporter.last_metrics["val_loss"] == history.last["val_loss"]


def test_steps_count_on_over_several_fits():
    steps = []
    reporter = EpochReporter(lambda report: steps.append((report.step, report.epoch)) and None)
    _fit(reporter, epochs=2)
    _fit(reporter, epochs=2)
    assert steps == [(1, 1), (2, 2), (3, 1), (4, 2)]


def test_a_stopped_trial_is_recorded_as_stopped_with_the_epochs_it_trained(tiny_experiment):
    trial = Trial(0, {"lr": 0.1}, 0, None, {"lr": 0.1, "epochs": 4})
    stopped = run_trial(tiny_experiment, trial, reporter=EpochReporter(lambda r: "cut" if r.step == 3 else None))
    assert (stopped["status"], stopped["error"], stopped["epochs_run"]) == ("stopped", "cut", 3)
    assert stopped["train_loss"] > 0  # the numbers of the model it stopped with
    full = run_trial(tiny_experiment, trial, reporter=EpochReporter(lambda r: None))
    assert (full["status"], full["epochs_run"]) == ("complete", 4)
    assert "epochs_run" not in run_trial(tiny_experiment, trial)  # no reporter, no column


def test_a_failed_trial_stays_failed_even_when_stopped(tiny_experiment):
    trial = Trial(0, {}, 0, None, {"fail_at": 1, "epochs": 3})
    row = run_trial(tiny_experiment, trial, reporter=EpochReporter(lambda r: "cut"))
    assert row["status"] == "failed" and row["error"].startswith("RuntimeError: boom")


def test_the_summary_counts_the_epochs_saved():
    rows = [
        {"trial": 0, "status": "complete", "epochs_run": 10},
        {"trial": 1, "status": "stopped", "epochs_run": 2},
        {"trial": 2, "status": "stopped", "epochs_run": 0},
        {"trial": 3, "status": "failed"},  # no epochs column: not counted either way
    ]
    out = scheduler_summary(rows, {0: 10, 1: 10, 2: 10, 3: 10})
    assert out == {"stopped": 2, "epochs_trained": 12, "epochs_full": 30, "epochs_saved": 18, "fraction_saved": 0.6}
    unknown = scheduler_summary(rows, {0: 10, 1: None, 2: 10})
    assert unknown["epochs_full"] is None and unknown["epochs_saved"] is None


@pytest.mark.parametrize("status", ["complete", "diverged"])
def test_stopped_trials_are_kept_on_resume_like_finished_ones(tmp_path, status):
    from reglab.sweeps.store import SweepStore

    store = SweepStore.create(tmp_path, "x", {"trials": []}, ["k"])
    store.record_many([{"trial": 0, "k": 1, "seed": 0, "fold": "", "status": status}])
    store.record({"trial": 1, "k": 2, "seed": 0, "fold": "", "status": "stopped", "epochs_run": 1})
    store.record({"trial": 2, "k": 3, "seed": 0, "fold": "", "status": "failed"})
    assert store.finished() == {0, 1}
    assert "epochs_run" in store.columns()
