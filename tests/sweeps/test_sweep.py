"""Sweep runs: failure isolation, atomic store, resume, local workers, files and CLI."""

from __future__ import annotations

import dataclasses
import json

import pytest

import reglab.sweeps.backends.local as local_backend
from reglab.cli import main
from reglab.sweeps import read_results, resume_sweep, run_sweep
from reglab.sweeps.store import SweepStore
from reglab.sweeps.trial import Trial, trial_from_json, trial_row


def test_failing_trials_are_recorded_and_the_others_finish(tiny_experiment, tmp_path):
    result = run_sweep(
        tiny_experiment, ["fail_at=0,1,2"], seeds=2, backend="local", workers=1, out=tmp_path, quiet=True
    )
    rows = read_results(result.path / "results.csv")
    assert len(rows) == 6
    by = {(r["fail_at"], r["seed"]): r for r in rows}
    for seed in (0, 1):
        assert by[(0, seed)]["status"] == "complete" and by[(0, seed)]["test_acc"] > 0.5
        for fail_at in (1, 2):
            row = by[(fail_at, seed)]
            assert row["status"] == "failed" and row["error"].startswith("RuntimeError: boom")
            assert row["test_acc"] == ""  # no metrics from a failed trial
    summary = json.loads((result.path / "summary.json").read_text())
    assert summary["trials"] == {"complete": 2, "diverged": 0, "failed": 4, "stopped": 0, "missing": 0}


def test_divergence_is_recorded_as_diverged(tiny_experiment, tmp_path):
    result = run_sweep(tiny_experiment, ["nan_at=0,1"], backend="local", workers=1, out=tmp_path, quiet=True)
    status = {r["nan_at"]: (r["status"], r["error"]) for r in result.rows}
    assert status[0] == ("complete", "")
    assert status[1][0] == "diverged" and "DivergenceError: training diverged in epoch 1" in status[1][1]


def test_process_pool_gives_the_same_rows_as_in_process(tiny_experiment, tmp_path):
    grid = ["lr=0.01,0.05,0.2", "fail_at=0,3"]
    pooled = run_sweep(tiny_experiment, grid, backend="local", workers=2, out=tmp_path / "a", quiet=True)
    serial = run_sweep(tiny_experiment, grid, backend="local", workers=1, out=tmp_path / "b", quiet=True)
    drop = ("seconds",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in pooled.rows] == [
        {k: v for k, v in r.items() if k not in drop} for r in serial.rows
    ]
    assert [r["trial"] for r in pooled.rows] == list(range(6))


def test_interrupt_keeps_finished_rows_and_resume_runs_only_the_rest(tiny_experiment, tmp_path, monkeypatch):
    # Trial 0 finishes, trial 1 raises KeyboardInterrupt at the end of epoch 1 (Ctrl-C).
    with pytest.raises(KeyboardInterrupt):
        run_sweep(
            tiny_experiment, ["interrupt_at=0,1", "lr=0.05,0.1"], backend="local", workers=1, out=tmp_path, quiet=True
        )
    (path,) = (tmp_path / tiny_experiment).iterdir()
    rows = read_results(path / "results.csv")
    assert [(r["trial"], r["status"]) for r in rows] == [(0, "complete"), (1, "complete")]
    assert json.loads((path / "summary.json").read_text())["status"] == "interrupted"
    assert not [p for p in path.iterdir() if p.name.endswith(".part")]  # no half-written file left

    # Resume with the interrupting trials made harmless: only trials 2 and 3 run.
    ran = []
    real = local_backend.run_trial

    def counting(experiment, trial, device):
        ran.append(trial.index)
        trial = type(trial)(trial.index, trial.point, trial.seed, trial.fold, {**trial.overrides, "interrupt_at": 0})
        return real(experiment, trial, device)

    monkeypatch.setattr(local_backend, "run_trial", counting)
    result = resume_sweep(path, backend="local", workers=1, quiet=True)
    assert ran == [2, 3]
    assert [r["status"] for r in result.rows] == ["complete"] * 4
    assert rows[0] == read_results(path / "results.csv")[0]  # the finished row is kept as it was


def test_a_backend_error_leaves_a_failed_summary_and_the_finished_trials(tiny_experiment, tmp_path, monkeypatch):
    real = local_backend.run_trial

    def broken(experiment, trial, device):
        if trial.index == 1:
            raise RuntimeError("the backend broke")
        return real(experiment, trial, device)

    monkeypatch.setattr(local_backend, "run_trial", broken)
    with pytest.raises(RuntimeError, match="the backend broke"):
        run_sweep(tiny_experiment, ["lr=0.05,0.1"], backend="local", workers=1, out=tmp_path, quiet=True)
    (path,) = (tmp_path / tiny_experiment).iterdir()
    summary = json.loads((path / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"] == "RuntimeError: the backend broke"
    assert [(r["trial"], r["status"]) for r in read_results(path / "results.csv")] == [(0, "complete")]
    monkeypatch.setattr(local_backend, "run_trial", real)
    assert [r["status"] for r in resume_sweep(path, workers=1, quiet=True).rows] == ["complete"] * 2


def test_resume_reruns_failed_but_not_complete_trials(tiny_experiment, tmp_path):
    result = run_sweep(tiny_experiment, ["fail_at=0,1"], backend="local", workers=1, out=tmp_path, quiet=True)
    store, _ = SweepStore.open(result.path)
    assert store.finished() == {0}


def test_sweep_folder_files_and_plot(tiny_experiment, tmp_path):
    result = run_sweep(
        tiny_experiment, ["lr=log:0.001:1:4"], seeds=2, backend="local", workers=1, out=tmp_path, quiet=True
    )
    files = sorted(p.name for p in result.path.iterdir())
    assert files == ["lr.png", "report.html", "results.csv", "summary.json", "sweep.json", "trials.jsonl"]
    assert (result.path / "lr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((result.path / "summary.json").read_text())
    assert len(summary["configurations"]) == 4 and all(c["seeds"] == 2 for c in summary["configurations"])
    first = [r for r in result.rows if r["lr"] == pytest.approx(0.001)]
    mean = sum(r["test_loss"] for r in first) / 2
    assert summary["configurations"][0]["test_loss_mean"] == pytest.approx(mean)
    manifest = json.loads((result.path / "sweep.json").read_text())
    assert manifest["grid"] == {"lr": pytest.approx([0.001, 0.01, 0.1, 1.0])} and len(manifest["trials"]) == 8
    again = run_sweep(tiny_experiment, ["lr=0.1"], backend="local", workers=1, out=tmp_path, quiet=True)
    assert again.path != result.path  # a new folder, never an old one


def test_cli_sweep(tiny_experiment, tmp_path, capsys):
    code = main(
        ["sweep", tiny_experiment, "lr=0.05,0.2", "--seeds", "2", "--workers", "1", "--out", str(tmp_path), "--quiet"]
    )
    out = capsys.readouterr().out
    assert code == 0 and "4 trials on the local backend: 4 complete" in out and "sweep directory:" in out
    (optimal,) = [line for line in out.splitlines() if line.startswith("test-optimal:")]
    assert "test_" in optimal and "nan" not in optimal  # no validation without --select: no val_* NaN shown
    (path,) = (tmp_path / tiny_experiment).iterdir()
    assert main(["sweep", "--resume", str(path), "--quiet"]) == 0  # nothing left to run
    assert len(read_results(path / "results.csv")) == 4
    capsys.readouterr()
    assert main(["sweep", tiny_experiment, "width=1,2", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown sweep key `width`; valid keys are: epochs, lr" in err
    assert main(["sweep", tiny_experiment, "lr=0.1", "--backend", "vectorized", "--out", str(tmp_path)]) == 2
    assert "has no vectorized trainer" in capsys.readouterr().err


def test_resumed_trials_keep_tuple_knobs_as_tuples():
    # sweep.json is JSON: a tuple knob comes back as a list. A resumed trial must be
    # the trial that was written, or its rows ("[64, 32]") would not group with the
    # rows finished before the interruption ("(64, 32)").
    trial = Trial(
        3,
        {"hiddens": (64, 32), "lr": 0.1},
        7,
        None,
        {"hiddens": (64, 32), "lr": 0.1, "seed": 7, "pairs": ((0.1, 0.2), (0.3, 0.4))},
    )
    data = json.loads(json.dumps(dataclasses.asdict(trial)))
    assert isinstance(data["point"]["hiddens"], list)
    assert trial_from_json(data) == trial
    assert trial_row(trial_from_json(data), {}, 0.0, "complete") == trial_row(trial, {}, 0.0, "complete")


def _row(i: int) -> dict:
    return {
        "trial": i,
        "lr": (0.1, 0.2),
        "seed": 0,
        "fold": "",
        "test_loss": 0.5 + i,
        "seconds": 1.0,
        "status": "complete",
        "error": "",
    }


def test_every_row_is_journalled_at_once_and_the_table_rewritten_at_most_every_second(tmp_path, monkeypatch):
    import reglab.sweeps.store as store_module

    clock = {"now": 100.0}
    monkeypatch.setattr(store_module.time, "monotonic", lambda: clock["now"])
    store = SweepStore.create(tmp_path, "x", {"knobs": ["lr"]}, ["lr"])
    rewrites = []
    real = store.run_dir.write_csv
    monkeypatch.setattr(store.run_dir, "write_csv", lambda *a, **k: rewrites.append(len(a[1])) or real(*a, **k))
    for i in range(5):  # five trials within one second: the table is rewritten after the first only
        store.record(_row(i))
        clock["now"] += 0.1
    assert rewrites == [1]
    assert [r["trial"] for r in store_module.read_journal(store.path / "trials.jsonl")] == [0, 1, 2, 3, 4]
    assert len(read_results(store.path / "results.csv")) == 1  # what a hard crash would leave there
    reopened, _ = SweepStore.open(store.path)  # --resume reads the journal: nothing lost
    assert reopened.rows == store.rows and reopened.rows[2]["lr"] == (0.1, 0.2)
    clock["now"] += 1.0
    store.record(_row(5))  # a second later: due again
    assert rewrites == [1, 6]
    store.flush()  # nothing new since: no rewrite
    assert rewrites == [1, 6]
    store.record(_row(6))
    store.flush()  # the end of a sweep writes the rest
    assert rewrites == [1, 6, 7] and read_results(store.path / "results.csv") == store.rows


def test_a_knob_named_like_a_metric_is_one_column_of_the_table(tmp_path):
    # e.g. train_subset: a knob, not a train_* metric
    store = SweepStore.create(tmp_path, "x", {"knobs": ["train_subset"]}, ["train_subset"])
    store.record(
        {
            "trial": 0,
            "train_subset": 1000,
            "seed": 1,
            "fold": "",
            "train_loss": 0.5,
            "test_loss": 0.6,
            "seconds": 1.0,
            "status": "complete",
            "error": "",
        }
    )
    store.flush()
    header = (store.path / "results.csv").read_text().splitlines()[0].split(",")
    assert header.count("train_subset") == 1 and header.index("train_subset") < header.index("seed")
    assert read_results(store.path / "results.csv")[0]["train_subset"] == 1000


def test_a_journal_line_cut_by_a_crash_is_ignored_and_a_rerun_row_replaces_the_first(tmp_path):
    store = SweepStore.create(tmp_path, "x", {"knobs": ["lr"]}, ["lr"])
    store.record(_row(0))
    store.record({**_row(1), "status": "failed", "error": "RuntimeError: boom"})
    store.record(_row(1))  # the failed trial, rerun by --resume
    with open(store.path / "trials.jsonl", "a") as f:
        f.write('{"trial": 2, "lr": [0.1')  # the process died mid-write
    reopened, _ = SweepStore.open(store.path)
    assert [(r["trial"], r["status"]) for r in reopened.rows] == [(0, "complete"), (1, "complete")]
    assert reopened.finished() == {0, 1}


def test_a_sweep_folder_without_a_journal_is_read_from_its_table(tmp_path):
    store = SweepStore.create(tmp_path, "x", {"knobs": ["lr"]}, ["lr"])
    store.record(_row(0))
    (store.path / "trials.jsonl").unlink()  # a folder written before the journal existed
    reopened, _ = SweepStore.open(store.path)
    assert reopened.rows == [_row(0)]


@pytest.mark.parametrize("text", ["{bad", "[1, 2]", '{"experiment": "tiny"}'])
def test_a_corrupt_manifest_is_refused_in_one_sentence(tmp_path, capsys, text):
    (tmp_path / "sweep.json").write_text(text)
    assert main(["sweep", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"--resume: {tmp_path / 'sweep.json'} is not a readable sweep manifest" in err
    assert "Traceback" not in err
