"""``reglab report DIR``: one self-contained ``report.html`` for a run, a sweep or a comparison.

The kind is read off the folder: ``compare.json`` (written by ``reglab
compare``), ``sweep.json`` (a sweep) or ``config.json`` (a run). The page
holds the configuration, every PNG of the folder inline (the curves, the knob
plots, ``compare.png``), the results tables, for a sweep the selection, its
reason and the test regret, and the versions the work was done with; its
status is the one the folder records (a run without ``summary.json`` is shown
as still going or stopped). See :mod:`reglab.reports.markup` for what makes
the file self-contained and safe.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..core.files import atomic_write_text
from ..runs.run_dir import read_csv_rows
from . import markup as m
from .comparison import difference_sentence
from .samples import COMPARE_MARK, RUN_MARK, SWEEP_MARK, read_json
from .stats import Difference

__all__ = ["REPORT", "report_kind", "build_report", "write_report"]

REPORT = "report.html"
_FIRST_FIGURES = ("curves.png", "compare.png")  # shown before the folder's other PNGs


def report_kind(folder: str | Path) -> str:
    """``"comparison"``, ``"sweep"`` or ``"run"``; a one-sentence ConfigError for anything else."""
    path = Path(folder)
    if not path.is_dir():
        raise ConfigError(f"report: {path} is not a folder")
    for mark, kind in ((COMPARE_MARK, "comparison"), (SWEEP_MARK, "sweep"), (RUN_MARK, "run")):
        if (path / mark).is_file():
            return kind
    raise ConfigError(
        f"report: {path} is not a run, sweep or comparison folder (no {RUN_MARK}, {SWEEP_MARK} or {COMPARE_MARK})"
    )


def build_report(folder: str | Path) -> str:
    """The HTML text of the folder's report."""
    path = Path(folder)
    kind = report_kind(path)
    if kind == "comparison":
        return _comparison_page(path)
    if kind == "sweep":
        return _sweep_page(path)
    return _run_page(path)


def write_report(folder: str | Path) -> Path:
    """Write (or rewrite, atomically) ``FOLDER/report.html``; returns its path."""
    path = Path(folder)
    return atomic_write_text(path / REPORT, build_report(path))


def _load(path: Path) -> dict[str, Any]:
    data, why = read_json(path)
    if why is not None and why != f"no {path.name}":
        raise ConfigError(f"report: {path.parent}: {why}")
    return data if isinstance(data, dict) else {}


def _figures(folder: Path) -> str:
    pngs = sorted(folder.glob("*.png"), key=lambda p: (p.name not in _FIRST_FIGURES, p.name))
    return "".join(m.image(p) for p in pngs) or m.paragraph("no figures in this folder")


def _versions(data: Any) -> str:
    if not isinstance(data, dict) or not data:
        return m.paragraph("not recorded")
    return m.key_values(data)


def _error_note(summary: dict[str, Any]) -> str:
    return m.paragraph(f"error: {summary['error']}", css="note") if summary.get("error") else ""


def _subtitle(status: Any, folder: Path) -> str:
    badge = "" if status is None else m.status_badge(status) + " &nbsp;"
    return f"{badge}<code>{m.text(folder)}</code>"


# --- a run ------------------------------------------------------------------------------


def _run_page(folder: Path) -> str:
    config = _load(folder / RUN_MARK)
    summary = _load(folder / "summary.json")
    status = summary.get("status", "no summary.json: still going, or stopped before it finished")
    experiment = config.get("experiment", "?")
    numbers = {
        k: v
        for k, v in summary.items()
        if k not in ("experiment", "status", "versions", "error") and not isinstance(v, dict)
    }
    metrics = read_csv_rows(folder / "metrics.csv")
    settings = dict(config.get("config") or {})
    run_facts: dict[str, Any] = {k: config[k] for k in ("device", "dry_run") if k in config}
    if isinstance(config.get("command"), list):
        run_facts["command"] = " ".join(str(c) for c in config["command"])
    sections = [
        m.section(
            "Result", _error_note(summary), m.key_values(numbers) if numbers else m.paragraph("no final numbers")
        ),
        m.section("Curves", _figures(folder)),
        m.section("Configuration", m.key_values(settings), m.key_values(run_facts)),
        m.section(
            "Per-epoch metrics",
            m.table(list(metrics[0]), metrics, scroll=True) if metrics else m.paragraph("no metrics.csv"),
        ),
        m.section("Versions", _versions(summary.get("versions"))),
    ]
    return m.page(f"{experiment} run {folder.name}", _subtitle(status, folder), sections)


# --- a sweep ----------------------------------------------------------------------------


def _sweep_page(folder: Path) -> str:
    manifest = _load(folder / SWEEP_MARK)
    summary = _load(folder / "summary.json")
    experiment = manifest.get("experiment", "?")
    knobs = [str(k) for k in manifest.get("knobs", [])]
    status = summary.get("status", "no summary.json: still going, or stopped before it finished")
    rows = read_csv_rows(folder / "results.csv")
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    configurations = summary.get("configurations") or []
    config_columns: list[str] = []
    for item in configurations:
        config_columns.extend(k for k in item if k not in config_columns)
    settings: dict[str, Any] = {
        k: manifest[k] for k in ("grid", "seeds", "select", "backend", "device", "workers") if k in manifest
    }
    if isinstance(settings.get("grid"), dict):  # p1: 0.2, 0.5; lr: 0.1
        settings["grid"] = "; ".join(
            f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in settings["grid"].items()
        )
    if isinstance(manifest.get("command"), list):
        settings["command"] = " ".join(str(c) for c in manifest["command"])
    settings.update({k: summary[k] for k in ("backend", "seconds") if k in summary})
    if isinstance(summary.get("trials"), dict):
        settings["trials"] = ", ".join(f"{n} {s}" for s, n in summary["trials"].items())
    sections = [
        m.section("Selection", *_selection(summary, knobs)),
        m.section("Figures", _figures(folder)),
        m.section(
            "Configurations (mean and std over seeds)",
            m.table(config_columns, configurations, scroll=True) if configurations else m.paragraph("none finished"),
        ),
        m.section(
            f"Trials ({len(rows)} of {len(manifest.get('trials', []))} finished)",
            m.table(columns, rows, scroll=True) if rows else m.paragraph("no trial has finished"),
        ),
        m.section("Sweep settings", m.key_values(settings)),
        m.section("Versions", _versions(summary.get("versions"))),
    ]
    search = _search(summary)
    if search:
        sections.insert(1, m.section("Search", *search))
    return m.page(f"{experiment} sweep {folder.name}", _subtitle(status, folder), sections)


def _search(summary: dict[str, Any]) -> list[str]:
    """What an early-stopping scheduler saved and what an Optuna study holds, when the sweep had them."""
    parts = []
    scheduler = summary.get("scheduler")
    if isinstance(scheduler, dict):
        stopped = {k: scheduler.get(k) for k in ("name", "stopped", "epochs_trained", "epochs_full", "epochs_saved")}
        if isinstance(scheduler.get("fraction_saved"), (int, float)):
            stopped["fraction_saved"] = f"{scheduler['fraction_saved']:.1%}"
        parts += [
            m.paragraph("trials stopped early, and the epochs that saved against the full grid:"),
            m.key_values(stopped),
        ]
    study = summary.get("optuna")
    if isinstance(study, dict):
        shown = {k: study.get(k) for k in ("sampler", "pruner", "budget", "configurations_finished") if k in study}
        if isinstance(study.get("trials"), dict):
            shown["trials by state"] = ", ".join(f"{n} {state}" for state, n in study["trials"].items())
        if isinstance(study.get("best_params"), dict):
            shown["best trial"] = study.get("best_trial")
            shown["best value (validation objective)"] = study.get("best_value")
            shown["best parameters"] = ", ".join(f"{k}={v}" for k, v in study["best_params"].items())
        shown["storage"] = f"{study.get('storage')} (study {study.get('study')}): --resume continues it"
        parts += [m.paragraph("the Optuna study:"), m.key_values(shown)]
    return parts


def _selection(summary: dict[str, Any], knobs: list[str]) -> list[str]:
    if not summary:
        return [m.paragraph("no summary.json: the sweep did not reach its end, so nothing was selected", css="note")]
    parts = [
        m.paragraph(f"metric: {summary.get('metric')} ({summary.get('mode')}); selection: {summary.get('selection')}")
    ]
    parts.append(m.paragraph(f"reason: {summary.get('reason')}"))
    chosen = {"selected": summary.get("selected"), "test-optimal": summary.get("test_optimal")}
    shown = [{"": name, **item} for name, item in chosen.items() if isinstance(item, dict)]
    if shown:
        columns = [""] + [k for k in shown[0] if k != ""]
        parts.append(m.table(columns, shown))
    facts: dict[str, Any] = {k: summary[k] for k in ("test_regret", "selected_is_test_optimal") if k in summary}
    if facts:
        parts.append(m.key_values(facts))
    return parts


# --- a comparison -----------------------------------------------------------------------


def _comparison_page(folder: Path) -> str:
    data = _load(folder / COMPARE_MARK)
    metric = str(data.get("metric", "?"))
    groups = [g for g in data.get("groups", []) if isinstance(g, dict)]
    differing = [str(k) for k in data.get("differing", [])]
    parts = []
    difference = data.get("difference")
    if isinstance(difference, dict) and len(groups) == 2:
        # JSON holds no nan: an undefined statistic (no spread) was written as null
        numbers = {k: math.nan if v is None else float(v) for k, v in difference.items() if k != "method"}
        d = Difference(**numbers, method=str(difference.get("method", "")))
        parts.append(m.paragraph(difference_sentence(metric, groups[0]["label"], groups[1]["label"], d)))
        parts.append(m.paragraph(f"method: {d.method}"))
    else:
        parts.append(m.paragraph("no difference was tested (it needs two configurations of at least 2 seeds each)"))
    group_rows = [{**g.get("config", {}), **{k: g.get(k) for k in ("n", "mean", "std", "min", "max")}} for g in groups]
    run_rows = [
        {"configuration": g.get("label"), **run} for g in groups for run in g.get("runs", []) if isinstance(run, dict)
    ]
    n_runs = len(run_rows)
    sections = [
        m.section(
            f"Final {metric} per configuration", m.table([*differing, "n", "mean", "std", "min", "max"], group_rows)
        ),
        m.section("Difference", *parts),
        m.section("Figure", _figures(folder)),
        m.section("Runs", m.table(["configuration", "source", "seed", "value"], run_rows, scroll=True)),
        m.section(
            "Left out",
            *(
                [m.paragraph(s, css="note") for s in data.get("left_out", []) + data.get("notes", [])]
                or [m.paragraph("nothing")]
            ),
        ),
        m.section("Shared configuration", m.key_values(data.get("common_config") or {})),
        m.section(
            "Versions",
            m.paragraph("this comparison:"),
            _versions(data.get("versions")),
            *[m.paragraph("the runs:") + _versions(v) for v in data.get("run_versions", [])[:1]],
            *[m.paragraph("and some runs:") + _versions(v) for v in data.get("run_versions", [])[1:]],
        ),
    ]
    title = f"{data.get('experiment', '?')}: {n_runs} runs compared on {metric}"
    return m.page(title, _subtitle(None, folder), sections)
