"""The engine's guarantees hold for every registered experiment, through the CLI.

Each epoch-based experiment declares at registration how to make it diverge
(``diverge=``); this file iterates the registry, so a new experiment cannot
skip it. With its ``--dry-run`` budget and the diverging setting, ``reglab run``
must end with status ``diverged``, exit 1 and the epoch named, and
``metrics.csv`` may hold only finite rows. Interrupted at its first recorded
epoch (Ctrl-C raised by a callback that only reaches the experiment through
``ctx.callbacks()``), it must end ``interrupted`` with exit 130 and that epoch's
row kept in ``metrics.csv``.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from reglab.cli import main
from reglab.engine.callbacks import Callback
from reglab.experiments import list_experiments
from reglab.runs.experiment import RunContext

EXPERIMENTS = list_experiments()
EPOCH_BASED = [e.name for e in EXPERIMENTS if e.epoch_based]


class _CtrlCAtFirstRow(Callback):
    def __init__(self) -> None:
        self.rows = 0

    def on_epoch_end(self, state, row) -> None:
        self.rows += 1
        raise KeyboardInterrupt


def _only_run(out: Path) -> Path:
    (run,) = [p for p in out.glob("*/*") if p.is_dir()]
    return run


def _metrics(run: Path) -> list[dict[str, str]]:
    path = run / "metrics.csv"
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def test_every_experiment_declares_how_it_diverges_or_that_it_does_not_train_by_epochs():
    undeclared = [e.name for e in EXPERIMENTS if e.epoch_based and not e.diverge]
    assert not undeclared, f"epoch-based experiments without diverge= at registration: {undeclared}"
    contradictory = [e.name for e in EXPERIMENTS if not e.epoch_based and e.diverge]
    assert not contradictory
    assert "init-stability" not in EPOCH_BASED and len(EPOCH_BASED) >= 12


@pytest.mark.slow
@pytest.mark.parametrize("name", EPOCH_BASED)
def test_a_diverging_setting_ends_diverged_with_exit_1_and_the_epoch_named(name, tmp_path, capsys):
    experiment = next(e for e in EXPERIMENTS if e.name == name)
    overrides = [f"{k}={v!r}" for k, v in experiment.diverge.items()]
    code = main(["run", name, "--dry-run", "--quiet", "--out", str(tmp_path), *overrides])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "reglab: diverged: training diverged in epoch" in err
    run = _only_run(tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "diverged"
    assert "training diverged in epoch" in summary["error"]
    for row in _metrics(run):  # only what was finite is recorded
        for key, value in row.items():
            if key.endswith("_loss"):
                assert math.isfinite(float(value)), (key, row)


@pytest.mark.slow
@pytest.mark.parametrize("name", EPOCH_BASED)
def test_an_interrupt_ends_interrupted_with_exit_130_and_the_finished_row_kept(name, tmp_path, capsys, monkeypatch):
    interrupter = _CtrlCAtFirstRow()
    original = RunContext.callbacks
    monkeypatch.setattr(RunContext, "callbacks", lambda self, **kw: [*original(self, **kw), interrupter])
    code = main(["run", name, "--dry-run", "--quiet", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert interrupter.rows == 1, f"{name} never reached a callback of ctx.callbacks() with a row"
    assert code == 130, err
    assert "interrupted" in err
    run = _only_run(tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert len(_metrics(run)) == 1  # the row of the epoch that finished


def test_an_experiment_without_epochs_runs_no_epoch(tmp_path, capsys, monkeypatch):
    interrupter = _CtrlCAtFirstRow()
    original = RunContext.callbacks
    monkeypatch.setattr(RunContext, "callbacks", lambda self, **kw: [*original(self, **kw), interrupter])
    for experiment in EXPERIMENTS:
        if not experiment.epoch_based:
            code = main(["run", experiment.name, "--dry-run", "--quiet", "--out", str(tmp_path / experiment.name)])
            assert code == 0 and interrupter.rows == 0
