"""report.html for a run, a sweep and a comparison, opened in real headless Chromium.

Each page must load with no console error and no request but the file itself
and its ``data:`` images, every image must have a non-zero natural size, the
tables must have the expected rows, and a screenshot is saved under the test's
temporary folder. The browser tests skip, with the reason, where Chromium is
not installed (see the ``chromium`` fixture).
"""

from __future__ import annotations

import json

import pytest

from reglab.cli import main
from reglab.core.errors import ConfigError
from reglab.reports import build_report, report_kind, write_report
from reglab.runs.runner import run_experiment
from reglab.sweeps import run_sweep
from tests.helpers import write_run_folder

# Per section: its heading and the row count of each of its tables.
TABLES_JS = """Array.from(document.querySelectorAll('section')).map(s => [
    s.querySelector('h2').textContent,
    Array.from(s.querySelectorAll('table')).map(t => t.tBodies[0].rows.length)])"""
IMAGES_JS = "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])"


def check_in_browser(chromium, report, tmp_path) -> dict[str, list[int]]:
    """Open ``report`` in Chromium, assert what every report must satisfy, save a screenshot;
    returns the table row counts per section heading."""
    url = report.resolve().as_uri()
    page = chromium.open(url)
    try:
        assert page.errors() == []
        assert set(page.requested_urls()) - {url} <= {u for u in page.requested_urls() if u.startswith("data:")}
        images = page.evaluate(IMAGES_JS)
        assert images and all(done and width > 0 and height > 0 for done, width, height in images), images
        tables = dict(page.evaluate(TABLES_JS))
        shot = page.screenshot(tmp_path / f"{report.parent.name}.png")
    finally:
        page.close()
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 10_000  # a drawn page, not a blank one
    return tables


def test_the_kind_comes_from_the_folder_and_anything_else_is_one_sentence(tmp_path):
    run = write_run_folder(tmp_path / "run", config={"lr": 0.1}, seed=0, summary={"test_acc": 0.5})
    assert report_kind(run) == "run"
    (tmp_path / "plain").mkdir()
    with pytest.raises(ConfigError, match=r"plain is not a run, sweep or comparison folder \(no config.json, "):
        report_kind(tmp_path / "plain")
    with pytest.raises(ConfigError, match=r"nowhere is not a folder"):
        write_report(tmp_path / "nowhere")


def test_the_page_is_one_file_with_every_string_escaped(tmp_path):
    hostile = "<script>alert('x')</script>"
    run = write_run_folder(
        tmp_path / "run",
        config={"name": hostile, "lr": 0.1},
        seed=0,
        summary={"status": "failed", "error": "RuntimeError: <b>boom</b> & more"},
    )
    (run / "curves.png").write_bytes(b"\x89PNG not really")  # inlined as it is: no file reference remains
    page = build_report(run)
    assert "<script" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "RuntimeError: &lt;b&gt;boom&lt;/b&gt; &amp; more" in page
    assert (
        "http://" not in page
        and "https://" not in page
        and "<link" not in page
        and 'src="data:image/png;base64,' in page
    )
    assert 'src="curves.png"' not in page


def test_a_run_report_in_chromium(chromium, tiny_experiment, tmp_path):
    outcome = run_experiment(tiny_experiment, ["epochs=3"], out=tmp_path / "runs", quiet=True, device="cpu")
    (outcome.run_dir.path / "curves.png").write_bytes(_png(tmp_path))
    report = write_report(outcome.run_dir.path)
    tables = check_in_browser(chromium, report, tmp_path)
    assert tables["Per-epoch metrics"] == [3]
    assert tables["Result"] == [len([k for k in outcome.summary if k not in ("experiment", "status", "versions")])]
    assert tables["Versions"] == [5]


@pytest.mark.slow
def test_a_sweep_writes_its_report_with_the_selection(chromium, fashion, tmp_path):
    sweep = run_sweep(
        "dropout",
        ["p1=0.2,0.5", "epochs=1", "train_subset=256"],
        seeds=2,
        select="val=0.25",
        backend="vectorized",
        out=tmp_path / "sweeps",
        quiet=True,
    )
    report = sweep.path / "report.html"
    assert report.is_file()  # written by the sweep itself
    text = report.read_text()
    summary = json.loads((sweep.path / "summary.json").read_text())
    assert summary["reason"].replace("'", "&#x27;") in text and "test_regret" in text
    tables = check_in_browser(chromium, report, tmp_path)
    assert tables["Selection"] == [2, 2]  # selected and test-optimal; the regret and whether they agree
    assert tables["Configurations (mean and std over seeds)"] == [2]
    assert tables["Trials (4 of 4 finished)"] == [4]


def test_an_interrupted_sweep_reports_what_finished_and_says_so(chromium, tiny_experiment, tmp_path):
    with pytest.raises(KeyboardInterrupt):  # trial 1 is interrupted: Ctrl-C
        run_sweep(tiny_experiment, ["interrupt_at=0,1", "lr=0.05,0.1"], workers=1, out=tmp_path, quiet=True)
    (path,) = (tmp_path / tiny_experiment).iterdir()
    text = (path / "report.html").read_text()
    assert '<span class="badge other">interrupted</span>' in text
    tables = check_in_browser(chromium, path / "report.html", tmp_path)
    assert tables["Trials (2 of 4 finished)"] == [2]


def test_a_comparison_report_in_chromium(chromium, tmp_path, capsys):
    pytest.importorskip("scipy", reason="scipy (the stats extra) is not installed")
    runs = [
        write_run_folder(
            tmp_path / "runs" / f"{p}-{seed}",
            config={"p1": p, "epochs": 2},
            seed=seed,
            summary={"test_acc": 0.8 + p / 10 + seed / 100},
            curve=[{"epoch": e, "test_acc": 0.7 + p / 10 + e / 20} for e in (1, 2)],
        )
        for p in (0.2, 0.5)
        for seed in range(3)
    ]
    assert main(["compare", *map(str, runs), "--out", str(tmp_path / "cmp")]) == 0
    assert f"report: {tmp_path / 'cmp' / 'report.html'}" in capsys.readouterr().out
    tables = check_in_browser(chromium, tmp_path / "cmp" / "report.html", tmp_path)
    assert tables["Final test_acc per configuration"] == [2]
    assert tables["Runs"] == [6]
    assert "95% CI" in (tmp_path / "cmp" / "report.html").read_text()


def _png(tmp_path) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1.5))
    fig.subplots().plot([1, 2, 3], [3, 1, 2])
    fig.savefig(tmp_path / "tiny.png")
    return (tmp_path / "tiny.png").read_bytes()


def test_the_browser_checks_catch_a_broken_page(chromium, tmp_path):
    # The checks above are only worth something if they fail on a page that is broken.
    page_file = tmp_path / "broken.html"
    page_file.write_text(
        '<!DOCTYPE html><html><body><img src="missing.png"><img src="http://127.0.0.1:9/x.png">'
        "<script>console.error('drawn wrong')</script></body></html>"
    )
    with pytest.raises(AssertionError):
        check_in_browser(chromium, page_file, tmp_path)
    page = chromium.open(page_file.resolve().as_uri())
    try:
        assert any("drawn wrong" in e for e in page.errors())
        assert "http://127.0.0.1:9/x.png" in page.requested_urls()
        assert [w for _, w, _ in page.evaluate(IMAGES_JS)] == [0, 0]
    finally:
        page.close()


def test_a_report_that_cannot_be_written_costs_the_sweep_nothing(tiny_experiment, tmp_path, monkeypatch, capsys):
    from reglab.sweeps import sweep as sweep_module

    def broken(path):
        raise OSError("disk full")

    monkeypatch.setattr(sweep_module, "write_report", broken)
    result = run_sweep(tiny_experiment, ["lr=0.05,0.1"], workers=1, out=tmp_path, quiet=True)
    assert result.status == "complete" and len(result.rows) == 2
    assert json.loads((result.path / "summary.json").read_text())["status"] == "complete"
    assert not (result.path / "report.html").exists()
    assert f"reglab: could not write {result.path / 'report.html'} (OSError: disk full)" in capsys.readouterr().err


def test_a_run_still_going_is_reported_as_such_with_its_finished_epochs(tmp_path):
    curve = [{"epoch": e, "train_loss": 1.0 / e} for e in (1, 2)]
    run = write_run_folder(tmp_path / "run", config={"lr": 0.1}, seed=0, summary=None, curve=curve)
    page = build_report(run)
    assert '<span class="badge other">no summary.json: still going, or stopped before it finished</span>' in page
    assert page.count('<td class="num">0.5</td>') == 1 and "no final numbers" in page


def test_a_comparison_without_spread_is_reported_without_an_interval(tmp_path):
    pytest.importorskip("scipy", reason="scipy (the stats extra) is not installed")
    runs = [
        write_run_folder(tmp_path / f"{p}-{seed}", config={"p1": p}, seed=seed, summary={"test_acc": p})
        for p in (0.2, 0.5)
        for seed in range(2)
    ]
    assert main(["compare", *map(str, runs), "--out", str(tmp_path / "cmp")]) == 0
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["difference"]["t"] is None  # nan in JSON
    assert "in test_acc: +0.3000 (no spread within either group: no interval or p-value)" in build_report(
        tmp_path / "cmp"
    )
