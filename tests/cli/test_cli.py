"""The command line, end to end.

Most tests call ``reglab.cli.main`` in process and read its output with
``capsys``: the same parser, commands and exit codes, without an interpreter
start per call. The tests at the end run a real interpreter, where the process
is the point: ``python -m reglab`` and the installed ``reglab`` script, their
exit statuses, and a reader that closes the pipe.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reglab.cli import main
from reglab.experiments import get_experiment, list_experiments


def _reglab(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess:
    """``reglab ARGS`` in process: its exit status (argparse's usage errors exit
    through SystemExit) and what it wrote, shaped as a finished subprocess."""
    capsys.readouterr()  # drop what came before
    try:
        code = main(list(args))
    except SystemExit as exit:
        code = exit.code
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["reglab", *args], code, out, err)


def _python_m_reglab(*args: str) -> subprocess.CompletedProcess:
    """``python -m reglab ARGS`` in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "reglab", *args], capture_output=True, text=True, timeout=300)


def test_list_has_one_line_per_experiment(capsys):
    result = _reglab(capsys, "list")
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert "dropout" in names and "dropout-scratch" in names
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)


@pytest.mark.slow
def test_run_dropout_end_to_end_and_never_overwrites(tmp_path, capsys):
    args = ("run", "dropout", "--dry-run", "--quiet", "--out", str(tmp_path), "epochs=2", "--seed", "1")
    first = _reglab(capsys, *args)
    assert first.returncode == 0, first.stderr
    last_line = first.stdout.strip().splitlines()[-1]
    assert last_line.startswith("run directory: ")
    run = Path(last_line.split(": ", 1)[1])
    assert run.parent == tmp_path / "dropout"
    assert sorted(p.name for p in run.iterdir()) == [
        "config.json",
        "curves.png",
        "metrics.csv",
        "model.pt",
        "summary.json",
    ]

    config = json.loads((run / "config.json").read_text())
    assert config["experiment"] == "dropout" and config["dry_run"] is True
    assert config["config"]["epochs"] == 2 and config["config"]["seed"] == 1  # explicit settings beat --dry-run
    assert config["config"]["train_subset"] == 2048

    with open(run / "metrics.csv") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"]
    assert [r["epoch"] for r in rows] == ["1", "2"]

    summary = json.loads((run / "summary.json").read_text())
    for key in ("train_loss", "train_acc", "test_acc", "epochs", "seconds", "seed", "versions"):
        assert key in summary
    assert summary["epochs"] == 2 and summary["seed"] == 1 and summary["status"] == "complete"
    assert summary["test_acc"] == pytest.approx(float(rows[-1]["test_acc"]))

    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = torch.load(run / "model.pt", weights_only=True)
    assert state["1.weight"].shape == (256, 784) and state["7.weight"].shape == (10, 256)
    assert "final: train_loss" in first.stdout

    before = {p.name: p.read_bytes() for p in run.iterdir()}
    second = _reglab(capsys, *args)
    assert second.returncode == 0
    assert len(list((tmp_path / "dropout").iterdir())) == 2
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_per_epoch_table_is_printed_unless_quiet(tmp_path, capsys):
    result = _reglab(capsys, "run", "dropout", "--dry-run", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"]
    assert lines[1].split()[0] == "1"


def test_unknown_key_is_an_error_listing_valid_keys(tmp_path, capsys):
    code = main(["run", "dropout", "lrr=0.1", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (
        "reglab: error: unknown setting `lrr`; valid settings are: hidden1, hidden2, p1, p2, lr, batch_size, "
        "epochs, init_std, train_subset, seed, val_fraction, kfold, fold"
    )
    assert not (tmp_path / "dropout").exists()  # nothing is created for a bad command


@pytest.mark.parametrize(
    "override, message",
    [
        ("epochs=1.5", "reglab: error: setting `epochs` expects a int (default 10); received 1.5"),
        (
            "p1=1.5",
            "reglab: error: Invalid value received for argument `p1`. Expected a float between 0 and 1. Received: p1=1.5",
        ),
        ("lr=-1", "reglab: error: Invalid value received for argument `lr`. Expected a float > 0. Received: lr=-1.0"),
        ("epochs", "unrecognized arguments: epochs (settings are given as key=value)"),
    ],
)
def test_bad_settings_get_one_clear_sentence(tmp_path, capsys, override, message):
    result = _reglab(capsys, "run", "dropout", override, "--out", str(tmp_path))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_unknown_experiment_and_bad_device(capsys):
    assert main(["run", "nosuch"]) == 2
    assert "unknown experiment 'nosuch'; known experiments: dropout-scratch, dropout" in capsys.readouterr().err
    assert main(["run", "dropout", "--device", "tpu"]) == 2
    assert "argument `device`" in capsys.readouterr().err


def test_experiment_help_lists_settings_and_defaults(capsys):
    assert main(["run", "dropout", "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: reglab run dropout" in out
    for row in (["p1", "float", "0.2"], ["epochs", "int", "10"], ["lr", "float", "0.5"]):
        assert any(line.split()[:3] == row for line in out.splitlines())
    assert "--dry-run sets: epochs=1 train_subset=2048" in out


def test_interrupted_and_diverged_exit_codes(tmp_path, tiny_experiment, capsys):
    assert main(["run", "tiny", "interrupt_at=2", "--out", str(tmp_path), "--quiet"]) == 130
    out = capsys.readouterr()
    assert "interrupted" in out.err and out.out.strip().splitlines()[-1].startswith("run directory: ")
    assert main(["run", "tiny", "nan_at=1", "--out", str(tmp_path), "--quiet"]) == 1
    assert "diverged: training diverged in epoch 1" in capsys.readouterr().err


def test_data_where_prints_the_folder(capsys):
    result = _reglab(capsys, "data", "where")
    assert result.returncode == 0
    assert Path(result.stdout.strip()).is_dir()


def test_experiment_help_description_has_no_docstring_indentation(capsys):
    assert main(["run", "dropout", "--help"]) == 0
    out = capsys.readouterr().out
    assert get_experiment("dropout").description.splitlines()[0] in out
    for experiment in list_experiments():  # docstrings are dedented (inspect.cleandoc)
        assert experiment.description and "\n    " not in experiment.description, experiment.name


# --- a real interpreter: the process is the point -----------------------------------------


@pytest.mark.slow
def test_python_dash_m_reglab_is_the_cli_with_its_exit_statuses(capsys):
    listed = _python_m_reglab("list")
    assert listed.returncode == 0
    assert listed.stdout == _reglab(capsys, "list").stdout
    # a usage error leaves the interpreter with status 2 and one sentence, no traceback
    bad = _python_m_reglab("run", "dropout", "epochs=1.5")
    assert bad.returncode == 2
    assert "reglab: error: setting `epochs` expects a int (default 10); received 1.5" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.slow
def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "reglab"
    assert exe.exists()
    result = subprocess.run([str(exe), "list"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "dropout" in result.stdout


@pytest.mark.slow
def test_a_reader_that_goes_away_gets_no_traceback():
    # `reglab run NAME --help | head -1`: the pipe closes before reglab writes.
    proc = subprocess.Popen(
        [sys.executable, "-m", "reglab", "run", "weight-decay", "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
