"""``--logger`` and ``--mlflow-uri`` on ``reglab run`` and ``reglab sweep``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reglab.cli import main
from reglab.loggers import logger_spec


def _main(capsys, *args):
    capsys.readouterr()
    code = main(list(args))
    return code, *capsys.readouterr()


def test_run_with_the_tensorboard_logger_writes_tb_in_the_run_folder(tiny_experiment, tmp_path, capsys):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    code, out, _ = _main(capsys, "run", tiny_experiment, "--out", str(tmp_path), "--quiet", "--logger", "tensorboard")
    run_dir = Path(out.strip().splitlines()[-1].removeprefix("run directory: "))
    assert code == 0 and any((run_dir / "tb").glob("events.out.tfevents.*"))


def test_mlflow_defaults_to_a_sqlite_store_beside_the_runs_folder(tmp_path):
    spec = logger_spec("mlflow", out=tmp_path / "results" / "runs")
    assert spec.tracking_uri == f"sqlite:///{tmp_path / 'results' / 'mlruns.db'}"
    assert (tmp_path / "results").is_dir() and not (tmp_path / "results" / "runs").exists()
    assert logger_spec("mlflow", mlflow_uri="http://127.0.0.1:5000").tracking_uri == "http://127.0.0.1:5000"
    assert logger_spec(None) is None and logger_spec("tensorboard").log_dir is None


@pytest.mark.parametrize(
    "kind, module, extra",
    [("tensorboard", "torch.utils.tensorboard", "tensorboard"), ("mlflow", "mlflow.tracking", "mlflow")],
)
def test_a_missing_extra_is_one_sentence_naming_the_pip_install(
    kind, module, extra, tiny_experiment, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, module, None)  # as if the extra were not installed
    for command in ("run", "sweep"):
        code, out, err = _main(capsys, command, tiny_experiment, "--out", str(tmp_path / command), "--logger", kind)
        assert code == 2 and out == ""
        assert (
            err
            == f"reglab: error: the {kind} logger needs {'TensorBoard' if kind == 'tensorboard' else 'MLflow'}, which is not installed: pip install 'reglab[{extra}]'\n"
        )
        assert not (tmp_path / command).exists()  # refused before anything was created


def test_an_unknown_logger_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["run", "dropout", "--logger", "wandb"])
    assert exit.value.code == 2 and "invalid choice: 'wandb'" in capsys.readouterr().err


def test_the_cli_prints_no_info_lines_of_mlflow_opening_its_store(tmp_path):
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    command = [sys.executable, "-m", "reglab", "run", "linear-regression", "epochs=1", "--quiet"]
    done = subprocess.run(
        [*command, "--out", str(tmp_path / "runs"), "--logger", "mlflow"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "mlruns.db").is_file()  # the store was made (its tables created) ...
    assert "INFO" not in done.stderr  # ... without MLflow's INFO lines on the command's stderr
