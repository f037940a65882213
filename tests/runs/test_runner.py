"""The runner under faults: signals, a burst of Ctrl-C, a model that cannot be saved,
outputs that cannot be written (a file, the null device, an unwritable folder, a full disk).

Signals are real (the test process sends them to itself from inside training, on
the main thread where the handlers run). The full disk is a 1 MiB tmpfs, mounted
where the machine allows it; the unwritable folder is made so by dropping
CAP_DAC_OVERRIDE in a subprocess when running as root (root ignores file modes).
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reglab.cli import main
from reglab.engine.callbacks import LambdaCallback
from reglab.runs.experiment import EXPERIMENTS, RunContext
from reglab.runs.run_dir import RunDir
from tests.fault_server import register_faulty
from tests.helpers import fill_disk

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def faulty(monkeypatch):
    """Experiment ``faulty`` (tests/fault_server.py), registered for one test."""
    monkeypatch.setattr(EXPERIMENTS, "_entries", dict(EXPERIMENTS._entries))
    register_faulty()
    return "faulty"


def _at_epoch(monkeypatch, epoch: int, action) -> None:
    """Run ``action()`` at the end of ``epoch`` of every training (a callback after the context's own)."""
    original = RunContext.callbacks

    def callbacks(self, **kwargs):
        hook = LambdaCallback(on_epoch_end=lambda state, row: action() if state.epoch == epoch else None)
        return [*original(self, **kwargs), hook]

    monkeypatch.setattr(RunContext, "callbacks", callbacks)


def _send(sig: int) -> None:
    os.kill(os.getpid(), sig)
    time.sleep(0.01)  # the handler runs here at the latest


def _run(capsys, *args):
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _only_run(out: Path) -> Path:
    (run,) = (out / "faulty").iterdir()
    return run


def _rows(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


def test_sigterm_is_handled_like_ctrl_c_with_exit_143(faulty, tmp_path, capsys, monkeypatch):
    _at_epoch(monkeypatch, 2, lambda: _send(signal.SIGTERM))
    code, out, err = _run(capsys, "run", faulty, "pause=0.0", "--quiet", "--out", str(tmp_path))
    assert code == 143
    assert "interrupted (SIGTERM): the finished epochs are in the run directory" in err
    run = _only_run(tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGTERM" and summary["metrics_rows"] == 2
    assert [r["epoch"] for r in _rows(run)] == ["1", "2"]
    assert f"run directory: {run}" in out


def test_a_burst_of_ctrl_c_cannot_cut_the_final_files(faulty, tmp_path, capsys, monkeypatch):
    _at_epoch(monkeypatch, 3, lambda: _send(signal.SIGINT))
    original = RunDir.write_json

    def write_json(self, name, data):
        if name == "summary.json":  # the rest of the burst arrives while the summary is written
            for _ in range(20):
                os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
        return original(self, name, data)

    monkeypatch.setattr(RunDir, "write_json", write_json)
    code, _out, err = _run(capsys, "run", faulty, "pause=0.0", "--quiet", "--out", str(tmp_path))
    assert code == 130
    assert "interrupted (SIGINT): the finished epochs are in the run directory" in err
    summary = json.loads((_only_run(tmp_path) / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["metrics_rows"] == 3


def test_a_model_that_cannot_be_saved_still_leaves_a_summary_saying_failed(faulty, tmp_path, capsys, monkeypatch):
    def disk_full(self, name, module):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(RunDir, "save_state_dict", disk_full)
    code, _out, _err = _run(capsys, "run", faulty, "pause=0.0", "--quiet", "--out", str(tmp_path))
    assert code == 1
    run = _only_run(tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert summary["error"] == f"OutputError: cannot write {run / 'model.pt'}: No space left on device"
    assert len(_rows(run)) == 6  # the finished epochs are kept


def test_a_repeated_setting_is_refused_as_sweep_does(faulty, tmp_path, capsys):
    code, _, err = _run(capsys, "run", faulty, "lr=0.1", "lr=0.2", "--out", str(tmp_path))
    assert code == 2
    assert err == "reglab: error: setting `lr` is given twice (lr=0.1, lr=0.2); give it once\n"
    assert not tmp_path.joinpath("faulty").exists()


@pytest.mark.parametrize(
    "where, reason",
    [
        (lambda tmp: tmp / "afile", "{tmp}/afile is not a folder"),
        (lambda tmp: tmp / "afile" / "below", "{tmp}/afile is not a folder"),
        (lambda tmp: Path(os.devnull), "/dev/null is not a folder"),
    ],
)
def test_an_output_that_is_not_a_folder_is_one_sentence(faulty, tmp_path, capsys, where, reason):
    (tmp_path / "afile").write_text("")
    out = where(tmp_path)
    code, _, err = _run(capsys, "run", faulty, "pause=0.0", "--quiet", "--out", str(out))
    assert code == 1
    assert err == f"reglab: error: cannot create a folder under {out}: {reason.format(tmp=tmp_path)}\n"


def _without_root_powers() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without util-linux's setpriv: root writes into any folder")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]


@pytest.mark.slow
def test_an_unwritable_folder_is_one_sentence(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    result = subprocess.run(
        [*_without_root_powers(), sys.executable, "-m", "reglab", "run", "linear-regression", "--dry-run"]
        + ["--quiet", "--out", str(locked)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr == f"reglab: error: cannot create a folder under {locked}: Permission denied\n"
    assert list(locked.iterdir()) == []


def test_a_full_disk_at_the_start_is_one_sentence_and_leaves_no_folder(faulty, tiny_disk, capsys):
    fill_disk(tiny_disk)
    code, _, err = _run(capsys, "run", faulty, "pause=0.0", "--quiet", "--out", str(tiny_disk / "runs"))
    assert code == 1
    assert err.startswith("reglab: error: cannot ") and "No space left on device" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    leftovers = list((tiny_disk / "runs" / "faulty").iterdir()) if (tiny_disk / "runs" / "faulty").exists() else []
    assert leftovers == []


def test_a_disk_that_fills_up_mid_run_keeps_the_finished_epochs(faulty, tiny_disk, capsys, monkeypatch):
    _at_epoch(monkeypatch, 2, lambda: fill_disk(tiny_disk))
    code, _, err = _run(capsys, "run", faulty, "pause=0.0", "--quiet", "--out", str(tiny_disk / "runs"))
    run = _only_run(tiny_disk / "runs")
    assert code == 1
    assert err == (
        f"reglab: error: cannot write {run / 'summary.json'}: No space left on device (the run ended failed: "
        f"cannot write {run / 'metrics.csv'}: No space left on device; its finished epochs are in {run / 'metrics.csv'})\n"
    )
    assert [r["epoch"] for r in _rows(run)] == ["1", "2"]  # the last complete version of the file
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "metrics.csv"]  # no half-written file


def test_a_signal_while_the_run_folder_is_made_is_recorded_not_lost(faulty, tmp_path, capsys, monkeypatch):
    original = RunDir.create

    def create(*args, **kwargs):
        _send(signal.SIGTERM)  # held: the folder and its config.json are made whole first
        return original(*args, **kwargs)

    monkeypatch.setattr(RunDir, "create", create)
    code, _, err = _run(capsys, "run", faulty, "--quiet", "--out", str(tmp_path))
    run = _only_run(tmp_path)
    assert code == 143 and "interrupted (SIGTERM)" in err
    assert json.loads((run / "config.json").read_text())["experiment"] == "faulty"
    assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"
