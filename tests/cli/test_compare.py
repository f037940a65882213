"""``reglab compare`` and ``reglab report`` on the command line: output, files, exit codes."""

from __future__ import annotations

import json

import pytest

from reglab.cli import main
from tests.helpers import write_run_folder

pytest.importorskip("scipy", reason="scipy (the stats extra) is not installed")


def _runs(tmp_path):
    return [
        write_run_folder(
            tmp_path / "runs" / "dropout" / f"p{p}-s{seed}",
            config={"p1": p, "p2": p, "epochs": 2},
            seed=seed,
            summary={"test_acc": 0.8 + p / 10 + seed / 200},
            curve=[{"epoch": e, "test_acc": 0.7 + e / 20} for e in (1, 2)],
        )
        for p in (0.2, 0.5)
        for seed in range(3)
    ]


def test_compare_prints_the_table_and_the_interval_and_writes_its_files(tmp_path, capsys, monkeypatch):
    _runs(tmp_path)
    still_going = write_run_folder(tmp_path / "runs" / "dropout" / "z-going", config={"p1": 0.2}, seed=7, summary=None)
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "runs/dropout/*"]) == 0  # the glob as a quoted argument
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == f"left out: {still_going.relative_to(tmp_path)}: no summary.json " + (
        "(the run is still going, or was stopped before it could write one); left out"
    )
    assert "6 dropout run(s) in 2 configuration(s); differing settings: p1, p2" in out
    assert "difference (p1=0.5, p2=0.5) - (p1=0.2, p2=0.2) in test_acc: +0.0300, 95% CI [" in out
    (folder,) = (tmp_path / "compare").iterdir()  # the default --out: a new compare/<timestamp>/
    assert sorted(p.name for p in folder.iterdir()) == ["compare.json", "compare.png", "report.html"]
    assert json.loads((folder / "compare.json").read_text())["differing"] == ["p1", "p2"]
    assert lines[-1] == f"report: {folder.relative_to(tmp_path) / 'report.html'}"


def test_compare_with_nothing_usable_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "nowhere"), "--out", str(tmp_path / "cmp")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("reglab: error: nothing to compare: ") and "no such folder" in err
    assert not (tmp_path / "cmp").exists()


def test_compare_refuses_to_overwrite_an_earlier_comparison(tmp_path, capsys):
    runs = [str(r) for r in _runs(tmp_path)]
    assert main(["compare", *runs, "--out", str(tmp_path / "cmp")]) == 0
    before = (tmp_path / "cmp" / "compare.json").read_bytes()
    assert main(["compare", *runs[:2], "--out", str(tmp_path / "cmp")]) == 2
    assert "already holds a comparison; choose another folder" in capsys.readouterr().err
    assert (tmp_path / "cmp" / "compare.json").read_bytes() == before


def test_report_writes_report_html_or_says_why_not(tmp_path, capsys):
    run = _runs(tmp_path)[0]
    assert main(["report", str(run)]) == 0
    assert capsys.readouterr().out == f"report: {run / 'report.html'}\n"
    assert (run / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"reglab: error: report: {tmp_path} is not a run, sweep or comparison folder " + (
        "(no config.json, sweep.json or compare.json)\n"
    )
