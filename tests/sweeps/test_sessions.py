"""What a sweep checks before it makes its folder: the grid's size, finite ranges, the
device and the backend, each refused in one sentence with nothing created."""

from __future__ import annotations

import sys
import time

import pytest

from reglab.cli import main


def _refused(capsys, tmp_path, *args) -> str:
    code = main(["sweep", *args, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert list(tmp_path.iterdir()) == []  # nothing was created
    return err


def test_a_grid_beyond_the_limit_is_refused_before_anything_is_built(tiny_experiment, tmp_path, capsys):
    start = time.perf_counter()
    err = _refused(capsys, tmp_path, tiny_experiment, "lr=log:0.001:1:100000000")
    assert time.perf_counter() - start < 5  # not minutes of building trials
    assert err == (
        "reglab: error: range for `lr` asks for 100000000 values, more than the sweep's limit of 10000 trials "
        "('log:0.001:1:100000000'); check COUNT, or raise --max-trials to run it knowingly\n"
    )
    err = _refused(capsys, tmp_path, tiny_experiment, "lr=log:0.001:1:200", "epochs=1,2,3", "--seeds", "20")
    assert err == (
        "reglab: error: the sweep would run 12000 trials (600 grid points x 20 seeds x 1 splits), more than "
        "--max-trials 10000; check the grid (log:A:B:N makes N values), or raise --max-trials to run it knowingly\n"
    )


def test_max_trials_allows_a_large_grid_knowingly_and_lowers_the_limit(tiny_experiment, tmp_path, capsys):
    _refused(capsys, tmp_path, tiny_experiment, "lr=0.1,0.2,0.3", "--max-trials", "2")
    code = main(
        ["sweep", tiny_experiment, "lr=0.1,0.2,0.3", "--max-trials", "3", "--workers", "1", "--quiet"]
        + ["--out", str(tmp_path)]
    )
    assert code == 0


@pytest.mark.parametrize("bound", ["nan", "inf", "-inf"])
def test_a_range_bound_that_is_not_finite_is_refused(tiny_experiment, tmp_path, capsys, bound):
    err = _refused(capsys, tmp_path, tiny_experiment, f"lr=lin:{bound}:1:3")
    assert err == f"reglab: error: range for `lr` needs finite START and STOP; received 'lin:{bound}:1:3'\n"


@pytest.mark.parametrize("backend", ["local", "vectorized", "auto"])
def test_a_bad_device_is_refused_for_every_backend_before_the_folder(tiny_experiment, tmp_path, capsys, backend):
    err = _refused(capsys, tmp_path, tiny_experiment, "lr=0.1", "--backend", backend, "--device", "tpu")
    assert err.startswith("reglab: error: Invalid value received for argument `device`.")


def test_the_vectorized_backend_is_checked_before_the_folder(tiny_experiment, tmp_path, capsys):
    err = _refused(capsys, tmp_path, tiny_experiment, "lr=0.1", "--backend", "vectorized")
    assert err == "reglab: error: experiment 'tiny' has no vectorized trainer; use --backend local or ray\n"


@pytest.mark.parametrize("backend", ["ray", "optuna"])
def test_a_backend_whose_package_is_missing_is_one_sentence_before_the_folder(
    tiny_experiment, tmp_path, capsys, monkeypatch, backend
):
    monkeypatch.setitem(sys.modules, backend, None)  # as if the extra were not installed
    options = ["--trials", "2"] if backend == "optuna" else []
    err = _refused(capsys, tmp_path, tiny_experiment, "lr=0.1,0.2", "--backend", backend, *options)
    needs = {"ray": "Ray Tune", "optuna": "Optuna"}[backend]
    assert err == f"reglab: error: the {backend} backend needs {needs}: pip install 'reglab[{backend}]'\n"


@pytest.mark.parametrize("axis", ["lr=" + "-" * 10_000 + "1", "lr=" + "1+" * 10_000 + "1", "lr=" + "(" * 500 + "1"])
def test_pathological_literals_are_one_sentence(tiny_experiment, tmp_path, capsys, axis):
    err = _refused(capsys, tmp_path, tiny_experiment, axis)
    assert err.startswith("reglab: error: could not parse the values of `lr` (") and err.count("\n") == 1
    assert len(err) < 300
