"""``--resume`` on what a crash or a careless hand leaves: a cut journal line, malformed
state, settings given beside it; and the sessions a resumed sweep records."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

import reglab.sweeps.backends.local as local_backend
from reglab.cli import main
from reglab.core.errors import ConfigError
from reglab.sweeps import read_results, resume_sweep, run_sweep
from reglab.sweeps.store import SweepStore, read_journal


def _sweep(tiny, tmp_path, **kwargs):
    return run_sweep(tiny, ["lr=0.05,0.1,0.2"], backend="local", workers=1, out=tmp_path, quiet=True, **kwargs)


def _without(rows, key="seconds"):
    return [{k: v for k, v in r.items() if k != key} for r in rows]


def test_a_cut_last_line_is_removed_before_resume_appends_so_no_row_is_glued_to_it(tiny_experiment, tmp_path):
    result = _sweep(tiny_experiment, tmp_path)
    journal = result.path / "trials.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    # A crash while trial 2's row was written: its line is cut, and trial 2 must run again.
    journal.write_text("".join(lines[:2]) + lines[2][:25])
    resumed = resume_sweep(result.path, quiet=True)
    rows = read_journal(journal)
    assert [r["trial"] for r in rows] == [0, 1, 2]  # every row readable, none lost
    assert _without(resumed.rows) == _without(result.rows)
    assert [json.loads(line)["trial"] for line in journal.read_text().splitlines()] == [0, 1, 2]  # none glued


def test_a_row_glued_to_a_cut_line_by_an_older_resume_is_recovered(tmp_path):
    store = SweepStore.create(tmp_path, "x", {"knobs": ["lr"]}, ["lr"])
    row = {"trial": 1, "lr": 0.1, "seed": 0, "fold": "", "seconds": 0.1, "status": "complete", "error": ""}
    (store.path / "trials.jsonl").write_text('{"trial": 0, "lr": 0.0' + json.dumps(row) + "\n")
    assert read_journal(store.path / "trials.jsonl") == [row]


@pytest.mark.parametrize(
    "journal, why",
    [
        (b"[1, 2]\n", "line 1: a JSON list, not an object"),
        (b'{"status": "complete"}\n', "line 1: no trial number (trial=None)"),
        (b'{"trial": "3"}\n', "line 1: no trial number (trial='3')"),
        (b'{"trial": 0}\n\xff\xfe{"trial": 1}\n', "line 2: not UTF-8 text"),
        (b'{"trial": 0}\nnot json at all\n{"trial": 2}\n', "line 2: not JSON"),
    ],
)
def test_a_malformed_journal_is_refused_in_one_sentence_naming_the_file(
    tiny_experiment, tmp_path, capsys, journal, why
):
    result = _sweep(tiny_experiment, tmp_path)
    (result.path / "trials.jsonl").write_bytes(journal)
    assert main(["sweep", "--resume", str(result.path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"reglab: error: --resume: {result.path / 'trials.jsonl'}, {why}; a sweep journal holds one JSON row per line\n"
    )


@pytest.mark.parametrize(
    "drop, why", [("device", "no device"), ("trials", "no trials"), ("experiment", "no experiment")]
)
def test_a_manifest_without_what_resume_needs_is_refused(tiny_experiment, tmp_path, capsys, drop, why):
    result = _sweep(tiny_experiment, tmp_path)
    manifest = json.loads((result.path / "sweep.json").read_text())
    del manifest[drop]
    (result.path / "sweep.json").write_text(json.dumps(manifest))
    before = (result.path / "trials.jsonl").read_bytes()
    assert main(["sweep", "--resume", str(result.path)]) == 2
    assert capsys.readouterr().err == (
        f"reglab: error: --resume: {result.path / 'sweep.json'} is not a readable sweep manifest ({why})\n"
    )
    assert (result.path / "trials.jsonl").read_bytes() == before


@pytest.mark.parametrize(
    "extra, named",
    [
        (["tiny"], "the experiment tiny"),
        (["lr=0.3", "epochs=2"], "the axes lr=0.3 epochs=2"),
        (["--seeds", "2"], "--seeds 2"),
        (["--select", "val=0.2"], "--select val=0.2"),
        (["--device", "cpu"], "--device cpu"),
        (["--out", "elsewhere"], "--out elsewhere"),
    ],
)
def test_settings_given_with_resume_are_refused_not_ignored(tiny_experiment, tmp_path, capsys, extra, named):
    result = _sweep(tiny_experiment, tmp_path)
    code = main(["sweep", "--resume", str(result.path), *extra])
    assert code == 2
    assert capsys.readouterr().err == (
        "reglab: error: --resume takes the experiment and every setting from the sweep folder's sweep.json; "
        f"drop {named}\n"
    )


def test_a_resume_keeps_the_first_sessions_seconds_and_backend_and_adds_its_own(tiny_experiment, tmp_path, monkeypatch):
    with pytest.raises(KeyboardInterrupt):
        run_sweep(tiny_experiment, ["interrupt_at=0,2"], backend="local", workers=1, out=tmp_path, quiet=True)
    (path,) = (tmp_path / tiny_experiment).iterdir()
    first = json.loads((path / "summary.json").read_text())
    assert first["status"] == "interrupted" and first["backend"] == "local"
    real = local_backend.run_trial  # the resumed trial runs without its Ctrl-C

    def harmless(experiment, trial, device):
        return real(experiment, dataclasses.replace(trial, overrides={**trial.overrides, "interrupt_at": 0}), device)

    monkeypatch.setattr(local_backend, "run_trial", harmless)
    resume_sweep(path, backend="auto", quiet=True)
    summary = json.loads((path / "summary.json").read_text())
    assert summary["backend"] == "local" and summary["seconds"] == first["seconds"]
    sessions = summary["sessions"]
    assert [(s["backend"], s["status"], s["trials"]) for s in sessions] == [
        ("local", "interrupted", 2),
        ("local", "complete", 1),
    ]
    assert summary["total_seconds"] == pytest.approx(sum(s["seconds"] for s in sessions))


def test_a_session_killed_before_its_summary_is_listed_with_unknown_seconds(tiny_experiment, tmp_path):
    result = _sweep(tiny_experiment, tmp_path)
    (result.path / "summary.json").unlink()  # what SIGKILL leaves
    resume_sweep(result.path, quiet=True)
    sessions = json.loads((result.path / "summary.json").read_text())["sessions"]
    assert sessions[0] == {"backend": "local", "seconds": None, "status": "ended without a summary"}
    assert sessions[1]["trials"] == 0 and sessions[1]["status"] == "complete"


def test_ctrl_c_on_a_sweep_prints_the_folder_to_resume(tiny_experiment, tmp_path, capsys):
    code = main(["sweep", tiny_experiment, "interrupt_at=0,2", "--workers", "1", "--quiet", "--out", str(tmp_path)])
    (path,) = (tmp_path / tiny_experiment).iterdir()
    out, err = capsys.readouterr()
    assert code == 130 and out == f"sweep directory: {path}\n"
    assert err == f"interrupted: 1 finished trials are kept in {path}\nresume with: reglab sweep --resume {path}\n"
    assert len(read_results(path / "results.csv")) == 1


def test_the_library_refuses_resume_with_other_settings(tiny_experiment, tmp_path):
    result = _sweep(tiny_experiment, tmp_path)
    with pytest.raises(ConfigError, match=r"drop --seeds 2, --select val=0\.5"):
        run_sweep("", seeds=2, select="val=0.5", resume=result.path)


def test_a_signal_while_the_sweep_folder_is_made_is_recorded_with_the_folder_to_resume(
    tiny_experiment, tmp_path, capsys, monkeypatch
):
    import os
    import signal
    import time

    from reglab.sweeps import store as store_module

    original = store_module.RunDir.create

    def create(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)  # held: the folder and its sweep.json are made whole first
        return original(*args, **kwargs)

    monkeypatch.setattr(store_module.RunDir, "create", create)
    code = main(["sweep", tiny_experiment, "lr=0.1,0.2", "--workers", "1", "--quiet", "--out", str(tmp_path)])
    (path,) = (tmp_path / tiny_experiment).iterdir()
    assert code == 143
    assert f"resume with: reglab sweep --resume {path}" in capsys.readouterr().err
    assert json.loads((path / "summary.json").read_text())["status"] == "interrupted"


def test_a_disk_that_fills_up_mid_sweep_names_the_file_and_the_resume_finishes(
    tiny_experiment, tiny_disk, capsys, monkeypatch
):
    from tests.helpers import fill_disk

    original = SweepStore.record_many
    filled: list = []

    def record_many(self, rows):
        original(self, rows)
        if not filled:  # the disk is full once the first trial is journalled
            filled.append(fill_disk(tiny_disk))

    monkeypatch.setattr(SweepStore, "record_many", record_many)
    out = tiny_disk / "sweeps"
    code = main(["sweep", tiny_experiment, "lr=0.05,0.1,0.2", "--workers", "1", "--quiet", "--out", str(out)])
    (path,) = (out / tiny_experiment).iterdir()
    err = capsys.readouterr().err
    assert code == 1
    # The journal's last page may still hold a row; the next whole file cannot be written.
    assert re.fullmatch(
        rf"reglab: error: cannot (append to|write) {re.escape(str(path))}/(trials\.jsonl|results\.csv): "
        rf"No space left on device; the finished trials are kept in {re.escape(str(path))}: finish them with --resume\n",
        err,
    ), err
    assert [r["trial"] for r in read_journal(path / "trials.jsonl")][:1] == [0]
    filled[0].unlink()  # room again
    assert main(["sweep", "--resume", str(path), "--quiet"]) == 0
    assert [r["status"] for r in read_journal(path / "trials.jsonl")] == ["complete"] * 3
