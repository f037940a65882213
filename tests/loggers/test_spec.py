"""LoggerSpec: which logger, as picklable data that means the same in any process."""

from __future__ import annotations

import pickle

import pytest

from reglab.core.errors import ConfigError, InvalidArgumentError
from reglab.loggers import LoggerSpec


def test_relative_places_become_absolute_for_workers_with_another_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = LoggerSpec("tensorboard", log_dir="sweep/tb").absolute()
    assert spec.log_dir == str(tmp_path / "sweep" / "tb")
    mlflow = LoggerSpec("mlflow", tracking_uri="sqlite:///runs/mlruns.db").absolute()
    assert mlflow.tracking_uri == f"sqlite:///{tmp_path}/runs/mlruns.db"
    for uri in ("sqlite:////abs/mlruns.db", "sqlite:///:memory:", "http://127.0.0.1:5000"):
        assert LoggerSpec("mlflow", tracking_uri=uri).absolute().tracking_uri == uri
    assert pickle.loads(pickle.dumps(mlflow)) == mlflow


def test_bad_specs_get_one_sentence():
    with pytest.raises(InvalidArgumentError, match="argument `logger`"):
        LoggerSpec("wandb")
    with pytest.raises(ConfigError, match="needs a tracking URI"):
        LoggerSpec("mlflow")
