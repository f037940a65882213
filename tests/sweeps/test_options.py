"""Search options: each belongs to one backend and is refused by the others in one sentence."""

from __future__ import annotations

import re

import pytest

from reglab.cli import main
from reglab.core.errors import ConfigError, InvalidArgumentError
from reglab.sweeps.options import SearchOptions
from reglab.sweeps.selection import parse_select

VAL = parse_select("val=0.2")


def test_defaults_are_filled_in_for_the_backend_that_uses_them():
    assert SearchOptions(trials=5).checked("optuna", VAL) == SearchOptions(trials=5, sampler="tpe", pruner="median")
    assert SearchOptions().checked("ray", None) == SearchOptions(scheduler=None, retries=0)
    assert SearchOptions(scheduler="asha", retries=2).checked("ray", VAL) == SearchOptions(scheduler="asha", retries=2)
    assert SearchOptions(scheduler="none").checked("ray", VAL).scheduler is None
    assert SearchOptions().checked("local", None) == SearchOptions()
    options = SearchOptions(trials=5, sampler="random", pruner="sha")
    assert SearchOptions.from_json(options.to_json()) == options and SearchOptions.from_json(None) == SearchOptions()


@pytest.mark.parametrize(
    ("options", "backend", "select", "message"),
    [
        (SearchOptions(trials=5), "local", VAL, "--trials applies to --backend optuna (received --backend local)"),
        (SearchOptions(pruner="sha"), "ray", VAL, "--pruner applies to --backend optuna (received --backend ray)"),
        (
            SearchOptions(scheduler="asha"),
            "auto",
            VAL,
            "--scheduler applies to --backend ray (received --backend auto)",
        ),
        (SearchOptions(retries=1), "optuna", VAL, "--retries applies to --backend ray"),
        (SearchOptions(), "optuna", VAL, "--backend optuna needs --trials N"),
        (SearchOptions(trials=5), "optuna", None, "--backend optuna needs --select val=FRACTION or kfold=K"),
        (SearchOptions(scheduler="asha"), "ray", None, "--scheduler asha needs --select"),
        (SearchOptions(trials=5), "optuna", VAL, "--backend optuna runs one trial at a time (received --workers 2)"),
    ],
)
def test_misplaced_or_missing_options_are_one_sentence(options, backend, select, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        options.checked(backend, select, workers=2 if "workers" in message else None)


@pytest.mark.parametrize(
    ("options", "received"),
    [
        (SearchOptions(trials=0), "trials=0"),
        (SearchOptions(trials=3, sampler="grid"), "sampler='grid'"),
        (SearchOptions(trials=3, pruner="patient"), "pruner='patient'"),
    ],
)
def test_bad_values_get_the_argument_sentence(options, received):
    with pytest.raises(InvalidArgumentError, match=f"Received: {received}"):
        options.checked("optuna", VAL)
    with pytest.raises(InvalidArgumentError, match="Received: retries=-1"):
        SearchOptions(retries=-1).checked("ray", VAL)
    with pytest.raises(InvalidArgumentError, match="Received: scheduler='hyperband'"):
        SearchOptions(scheduler="hyperband").checked("ray", VAL)


def test_the_command_line_refuses_them_before_making_a_folder(tiny_experiment, tmp_path, capsys):
    out = ["--out", str(tmp_path)]
    assert main(["sweep", tiny_experiment, "lr=0.05,0.1", "--scheduler", "asha", *out]) == 2
    assert "--scheduler applies to --backend ray (received --backend auto)" in capsys.readouterr().err
    assert main(["sweep", tiny_experiment, "lr=log:0.01:1", *out]) == 2
    err = capsys.readouterr().err
    assert "range 'log:0.01:1' for `lr` has no COUNT: a continuous range is searched by --backend optuna" in err
    assert main(["sweep", tiny_experiment, "lr=log:0.01:1", "--backend", "optuna", "--trials", "3", *out]) == 2
    assert "--backend optuna needs --select" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
