"""The Optuna backend on real Optuna: the objective, pruning, resume, two processes on
one study, and a search that matches a fine grid on the weight-decay experiment."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import time

import pytest

pytest.importorskip("optuna", reason="the optuna extra is not installed (pip install 'reglab[optuna]')")

import optuna

import reglab.sweeps.backends.optuna_search as optuna_search
from reglab.core.errors import ConfigError
from reglab.runs.sweep_spec import SweepSpec
from reglab.sweeps import read_results, resume_sweep, run_sweep
from reglab.sweeps.store import read_journal
from tests.helpers import SgdRidgeConfig, sgd_ridge_run

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def ridge(monkeypatch):
    """Register experiment 'ridge' (tests/helpers.py: sgd_ridge_run) for one test."""
    from reglab.experiments import EXPERIMENTS, Experiment

    entries = dict(EXPERIMENTS._entries)
    spec = SweepSpec(metric="loss", mode="min", log_knobs=("lr",))
    entries["ridge"] = Experiment("ridge", "ridge regression by SGD", SgdRidgeConfig, sgd_ridge_run, sweep=spec)
    monkeypatch.setattr(EXPERIMENTS, "_entries", entries)
    return "ridge"


def _study(path):
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path / "optuna.journal")))
    return optuna.load_study(study_name="reglab", storage=storage)


def _rows_of(rows, number):
    return [r for r in rows if r.get("study_trial") == number]


def test_the_objective_is_the_validation_mean_over_seeds_and_folds(ridge, tmp_path):
    # The test targets follow other weights: a search that looked at them would rank differently.
    space = ["lr=log:0.002:0.2", "wd=0,0.01,0.3", "test_shift=1.0"]
    result = run_sweep(
        ridge, space, seeds=2, select="kfold=3", backend="optuna", trials=6, pruner="none", out=tmp_path, quiet=True
    )
    rows = read_results(result.path / "results.csv")
    assert len(rows) == 6 * 2 * 3 and all(r["status"] == "complete" for r in rows)
    assert len({r["trial"] for r in rows}) == len(rows)
    study = _study(result.path)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 6
    for t in study.trials:
        mine = _rows_of(rows, t.number)
        assert {(r["seed"], r["fold"]) for r in mine} == {(s, f) for s in (0, 1) for f in range(3)}
        assert {r["lr"] for r in mine} == {t.params["lr"]} and 0.002 <= t.params["lr"] <= 0.2
        assert {r["wd"] for r in mine} == {t.params["wd"]} and t.params["wd"] in (0.0, 0.01, 0.3)
        per_seed = [statistics.fmean(r["val_loss"] for r in mine if r["seed"] == s) for s in (0, 1)]
        assert t.value == pytest.approx(statistics.fmean(per_seed), rel=1e-12)
        test_mean = statistics.fmean(r["test_loss"] for r in mine)
        assert not math.isclose(t.value, test_mean, rel_tol=1e-3)
    selected = result.report["selected"]
    assert selected["lr"] == study.best_params["lr"] and selected["val_loss"] == pytest.approx(study.best_value)
    test_best = min(c["test_loss_mean"] for c in result.configurations)
    assert result.report["test_regret"] == pytest.approx(selected["test_loss"] - test_best)
    summary = json.loads((result.path / "summary.json").read_text())
    assert summary["optuna"]["best_trial"] == study.best_trial.number
    assert summary["optuna"]["trials"] == {"complete": 6} and summary["backend"] == "optuna"


def test_pruning_stops_hopeless_configurations_and_they_never_win(ridge, tmp_path):
    result = run_sweep(
        ridge, ["lr=log:1e-6:0.1", "epochs=10"], seeds=2, select="val=0.25", backend="optuna", trials=20,
        out=tmp_path, quiet=True,
    )  # fmt: skip
    rows = read_results(result.path / "results.csv")
    study = _study(result.path)
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(pruned) >= 3 and len(pruned) + len(complete) == 20
    for t in pruned:
        mine = sorted(_rows_of(rows, t.number), key=lambda r: r["seed"])
        assert [r["seed"] for r in mine] == [0, 1]
        k = next(k for k, r in enumerate(mine) if r["status"] == "stopped")
        assert all(r["status"] == "complete" for r in mine[:k])
        first = mine[k]
        if first["epochs_run"]:  # stopped during its training
            assert first["error"].startswith("pruned by the median pruner at epoch") and first["epochs_run"] < 10
        else:  # pruned at the end of the previous seed
            assert first["error"].startswith("not run: pruned by the median pruner after seed")
        assert all(r["error"].startswith("not run: pruned") and r["epochs_run"] == 0 for r in mine[k + 1 :])
    assert any(0 < r["epochs_run"] < 10 for r in rows if r["status"] == "stopped")  # stopped while training
    # Pruned configurations are far behind: none is a candidate, the best one is complete.
    selected_lr = result.report["selected"]["lr"]
    assert selected_lr in {t.params["lr"] for t in complete}
    assert max(t.params["lr"] for t in pruned) < selected_lr
    saved = result.search["scheduler"]
    assert saved["name"] == "median pruner" and saved["stopped"] == sum(r["status"] == "stopped" for r in rows)
    assert saved["epochs_full"] == 20 * 2 * 10
    assert saved["epochs_saved"] == saved["epochs_full"] - sum(r["epochs_run"] for r in rows) > 0
    # report.html shows both: what the pruner saved, and the study
    page = (result.path / "report.html").read_text()
    search = page[page.index("<h2>Search</h2>") :].split("</section>")[0]
    assert f'<tr><th>epochs_saved</th><td class="num">{saved["epochs_saved"]}</td></tr>' in search
    assert f"<tr><th>trials by state</th><td>{len(complete)} complete, {len(pruned)} pruned</td></tr>" in search
    assert f"lr={study.best_params['lr']}" in search and "median pruner" in search


def test_an_interrupted_search_resumes_its_study_and_reruns_nothing_finished(ridge, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = optuna_search.run_trial

    def interrupt_on_the_sixth(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:  # the second seed of the third configuration: Ctrl-C
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(optuna_search, "run_trial", interrupt_on_the_sixth)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(ridge, ["lr=log:0.001:0.2"], seeds=2, select="val=0.25", backend="optuna", trials=5, out=tmp_path, quiet=True)  # fmt: skip
    (path,) = (tmp_path / "ridge").iterdir()
    before = read_journal(path / "trials.jsonl")
    assert [r["trial"] for r in before] == [0, 1, 2, 3, 4]
    assert json.loads((path / "summary.json").read_text())["status"] == "interrupted"

    monkeypatch.setattr(optuna_search, "run_trial", real)
    result = resume_sweep(path, quiet=True)
    study = _study(path)
    states = [t.state.name for t in study.trials]
    assert states[:3] == ["COMPLETE", "COMPLETE", "FAIL"] and states.count("COMPLETE") == 5
    (retry,) = [t for t in study.trials if t.user_attrs.get("retry_of") == 2]
    assert retry.params == study.trials[2].params
    journal = read_journal(path / "trials.jsonl")
    assert journal[: len(before)] == before
    # The interrupted configuration's finished seed is kept, not run again.
    mine = [r for r in journal if r["lr"] == retry.params["lr"]]
    assert sorted((r["seed"], r["study_trial"]) for r in mine) == [(0, 2), (1, retry.number)]
    assert retry.value == pytest.approx(statistics.fmean(r["val_loss"] for r in mine), rel=1e-12)
    assert result.status == "complete" and len(result.rows) == 10


def test_sampled_points_keep_the_settings_types_and_ranges():
    from reglab.sweeps.space import Dimension, SearchSpace

    space = SearchSpace(
        (
            Dimension("lr", "float", 1e-3, 1.0, log=True),
            Dimension("hidden", "int", 16.0, 512.0, log=True),
            Dimension("p", "float", 0.0, 0.5),
            Dimension("sizes", "categorical", choices=((1, 2), (3,))),
            Dimension("flag", "categorical", choices=(True, False)),
        )
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    points = []
    for _ in range(200):
        trial = study.ask()
        points.append(optuna_search._suggest(trial, space))
        study.tell(trial, 0.0)
    assert all(type(p["hidden"]) is int and 16 <= p["hidden"] <= 512 for p in points)
    assert all(1e-3 <= p["lr"] <= 1.0 and 0.0 <= p["p"] <= 0.5 for p in points)
    assert {p["sizes"] for p in points} == {(1, 2), (3,)} and {p["flag"] for p in points} == {True, False}
    # Log-uniform: about half the draws below the geometric middle (binomial, 5 standard errors).
    below = sum(p["lr"] < 10**-1.5 for p in points)
    assert abs(below - 100) <= 5 * (200 * 0.25) ** 0.5


def test_space_errors_are_one_sentence_before_anything_runs(ridge, tmp_path):
    cases = [
        (["lr=log:0:1"], {}, "log range for `lr` needs START and STOP > 0"),
        (["lr=lin:0.2:0.1"], {}, "range for `lr` needs finite START < STOP"),
        (["lr=log:1e-3:1"], {"trials": None}, "--backend optuna needs --trials N"),
        (["lr=log:1e-3:1"], {"select": None}, "--backend optuna needs --select"),
        (["epochs=lin:1:10.5"], {}, "setting `epochs` expects integers"),
        (["epochs=5"], {}, "a search needs at least one range or choice"),
    ]
    for axes, options, message in cases:
        kwargs = {"select": "val=0.25", "backend": "optuna", "trials": 3, **options}
        with pytest.raises(ConfigError, match=re.escape(message)):
            run_sweep(ridge, axes, out=tmp_path, quiet=True, **kwargs)
    # Both ends of every range must make valid configs: lambda = -1 is refused at once.
    with pytest.raises(ValueError, match=r"Received: lambdas=-1\.0"):
        run_sweep("weight-decay", ["lambda=lin:-1:1"], select="val=0.25", backend="optuna", trials=3, out=tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- processes ------------------------------------------------------------------------------

WEIGHT_DECAY = ["weight-decay", "lambda=log:1e-3:500"]


def _reglab(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "reglab", "sweep", *args, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_for(condition, process, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.stdout.read().decode()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.slow
def test_two_processes_work_on_one_study(fashion, tmp_path):
    # No pruner: weight-decay reports every recorded epoch, and this test is about sharing a study.
    first = _reglab(*WEIGHT_DECAY, "--seeds", "3", "--select", "val=0.25", "--backend", "optuna", "--trials", "12", "--pruner", "none", "--out", str(tmp_path))  # fmt: skip
    _wait_for(lambda: list(tmp_path.glob("weight-decay/*/trials.jsonl")), first)
    (path,) = tmp_path.glob("weight-decay/*")
    second = _reglab("--resume", str(path))
    for process in (first, second):
        output = process.communicate(timeout=300)[0].decode()
        assert process.returncode == 0, output[-3000:]
    study = _study(path)
    owners = {t.user_attrs["owner"]["pid"] for t in study.trials}
    assert owners == {first.pid, second.pid}
    finished = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert 12 <= len(finished) <= 13  # each process stops once 12 are finished
    assert all(t.state.name == "COMPLETE" for t in study.trials)
    rows = read_results(path / "results.csv")
    assert sorted(r["trial"] for r in rows) == sorted({r["trial"] for r in rows})
    assert sorted(r["study_trial"] for r in rows) == sorted(t.number for t in finished for _ in range(3))
    summary = json.loads((path / "summary.json").read_text())
    assert summary["trials"]["complete"] == len(rows) and summary["optuna"]["configurations_finished"] == len(finished)


@pytest.mark.slow
def test_a_killed_search_resumes_and_loses_nothing(fashion, tmp_path):
    # No pruner: weight-decay reports every recorded epoch, and this test is about a kill and its resume.
    process = _reglab(*WEIGHT_DECAY, "--seeds", "2", "--select", "val=0.25", "--backend", "optuna", "--trials", "8", "--pruner", "none", "--out", str(tmp_path))  # fmt: skip
    journals = lambda: list(tmp_path.glob("weight-decay/*/trials.jsonl"))
    # Killed after an odd row: in the middle of a configuration (two seeds each).
    _wait_for(lambda: journals() and len(read_journal(journals()[0])) >= 5, process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    (path,) = tmp_path.glob("weight-decay/*")
    before = read_journal(path / "trials.jsonl")
    result = resume_sweep(path, quiet=True)
    study = _study(path)
    lost = [t for t in study.trials if t.state.name == "FAIL"]
    finished = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(finished) == 8 and len(lost) == 1  # the configuration running at the kill
    (retry,) = [t for t in finished if t.user_attrs.get("retry_of") == lost[0].number]
    assert retry.params == lost[0].params
    journal = read_journal(path / "trials.jsonl")
    assert journal[: len(before)] == before
    points = [(r["lambda"], r["seed"]) for r in journal]
    assert len(points) == len(set(points)) == 8 * 2  # every seed of every configuration once
    assert result.status == "complete"


@pytest.mark.slow
def test_thirty_trials_come_within_a_grid_step_of_a_fine_grid(fashion, tmp_path):
    """weight-decay's validation loss against lambda on [1e-3, 500] (log scale): a
    fine grid of 61 values (a step of 10^(5.7/60), a factor 1.24) and 30 Optuna
    trials. The grid's best is only known to within a step, so the tolerance is
    the loss change over one step around it: a search that gets within a step of
    the grid's best lambda has a loss within that of the grid's best loss."""
    select = "val=0.25"
    grid = run_sweep(WEIGHT_DECAY[0], ["lambda=log:1e-3:500:61"], select=select, backend="vectorized", out=tmp_path, quiet=True)  # fmt: skip
    losses = [c["val_loss_mean"] for c in grid.configurations]
    i = min(range(len(losses)), key=lambda k: losses[k] if math.isfinite(losses[k]) else math.inf)
    neighbours = [losses[k] for k in (i - 1, i + 1) if 0 <= k < len(losses) and math.isfinite(losses[k])]
    tolerance = max(abs(n - losses[i]) for n in neighbours)
    search = run_sweep(WEIGHT_DECAY[0], [WEIGHT_DECAY[1]], select=select, backend="optuna", trials=30, out=tmp_path, quiet=True)  # fmt: skip
    found = search.report["selected"]["val_loss"]
    assert found <= losses[i] + tolerance, (found, losses[i], tolerance, search.report["selected"]["lambda"])
    assert 0 < tolerance < 0.1 * losses[i]  # a fine grid: one step changes the loss by under 10 %
