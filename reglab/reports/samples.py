"""Finished runs and sweeps, read back as samples to compare.

A *sample* is one seed of one configuration: a run folder (``config.json``,
``summary.json`` and, for its curve, ``metrics.csv``), or one seed of one
configuration of a sweep folder (``sweep.json`` and ``results.csv``; with
``--select kfold=K`` the K folds of a seed are averaged, as the sweep's own
selection does). A sample's ``config`` is the whole configuration without the
seed (and, for averaged folds, the fold), so that samples differing only in
seed compare as one group.

Nothing here raises on a bad folder: each one that cannot be used (missing,
unreadable, still running, not complete) gets one sentence in
:attr:`Inputs.left_out` and is skipped. The arguments may be run or sweep
folders, a folder of run folders (``runs/dropout``) or a glob
(``'runs/dropout/*'``, expanded here when the shell did not).
"""

from __future__ import annotations

import glob
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..runs.config import config_to_dict
from ..runs.run_dir import read_csv_rows

__all__ = ["Sample", "Inputs", "load_inputs", "read_json", "is_number", "RUN_MARK", "SWEEP_MARK", "COMPARE_MARK"]

RUN_MARK, SWEEP_MARK, COMPARE_MARK = "config.json", "sweep.json", "compare.json"
_NOT_CONFIG = ("seed", "fold")  # what varies within one group of sweep trials (folds are averaged)


@dataclass
class Sample:
    """One seed of one configuration.

    Attributes:
        source: the run folder, or ``SWEEP (trials i, j)`` for a sweep's rows.
        experiment: the registered experiment's name.
        config: the configuration without ``seed`` (nor ``fold`` for averaged folds).
        seed: the seed (None when the experiment has none).
        values: the final numbers (``test_acc``, ``val_loss``...).
        curve: the per-epoch rows of ``metrics.csv`` (empty for sweep rows).
        versions: the versions the run recorded (reglab, torch...), when it did.
    """

    source: str
    experiment: str
    config: dict[str, Any]
    seed: Any
    values: dict[str, float]
    curve: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)


@dataclass
class Inputs:
    """The usable samples, and one sentence per input left out."""

    samples: list[Sample] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_json(path: Path) -> tuple[Any, str | None]:
    """``(data, None)``, or ``(None, why)`` when the file is missing or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, f"no {path.name}"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"{path.name} is not readable JSON ({type(exc).__name__})"


def _versions(summary: Any) -> dict[str, str]:
    found = summary.get("versions") if isinstance(summary, dict) else None
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _expand(arg: str | Path) -> tuple[list[Path], str | None]:
    """The folders an argument names: itself, its run/sweep subfolders, or a glob's matches."""
    path = Path(arg)
    if not path.exists():
        if glob.has_magic(str(arg)):
            matches = sorted(Path(m) for m in glob.glob(str(arg)) if Path(m).is_dir())
            return (matches, None) if matches else ([], f"{arg}: the pattern matches no folder; left out")
        return [], f"{arg}: no such folder; left out"
    if not path.is_dir():
        return [], f"{arg}: not a folder; left out"
    if any((path / mark).exists() for mark in (RUN_MARK, SWEEP_MARK, COMPARE_MARK)):
        return [path], None
    children = sorted(
        c for c in path.iterdir() if c.is_dir() and ((c / RUN_MARK).exists() or (c / SWEEP_MARK).exists())
    )
    if children:
        return children, None
    return [], f"{arg}: not a run or sweep folder (no {RUN_MARK} or {SWEEP_MARK}); left out"


def load_inputs(paths: Sequence[str | Path]) -> Inputs:
    """Read every run and sweep that the arguments name (see the module doc)."""
    inputs = Inputs()
    seen: set[Path] = set()
    for arg in paths:
        folders, why = _expand(arg)
        if why is not None:
            inputs.left_out.append(why)
        for folder in folders:
            if folder.resolve() in seen:
                continue
            seen.add(folder.resolve())
            if (folder / SWEEP_MARK).exists():
                samples, notes = _read_sweep(folder)
                inputs.samples.extend(samples)
                inputs.left_out.extend(notes)
            elif (folder / RUN_MARK).exists():
                sample = _read_run(folder)
                if isinstance(sample, str):
                    inputs.left_out.append(sample)
                else:
                    inputs.samples.append(sample)
            else:
                inputs.left_out.append(f"{folder}: a comparison, not a run or a sweep; left out")
    return inputs


def _read_run(folder: Path) -> Sample | str:
    config, why = read_json(folder / RUN_MARK)
    if why is not None or not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        return f"{folder}: {why or RUN_MARK + ' has no configuration'}; left out"
    summary, why = read_json(folder / "summary.json")
    if why == "no summary.json":
        return f"{folder}: no summary.json (the run is still going, or was stopped before it could write one); left out"
    if why is not None or not isinstance(summary, dict):
        return f"{folder}: {why or 'summary.json is not an object'}; left out"
    status = summary.get("status")
    if status != "complete":
        return f"{folder}: the run's status is {status!r}, not 'complete'; left out"
    settings = dict(config["config"])
    seed = settings.pop("seed", summary.get("seed"))
    values = {k: float(v) for k, v in summary.items() if is_number(v) and k != "seed"}
    curve = read_csv_rows(folder / "metrics.csv")
    versions = _versions(summary)
    return Sample(str(folder), str(config.get("experiment")), settings, seed, values, curve, versions)


def _full_config(experiment: str, overrides: dict[str, Any]) -> dict[str, Any] | None:
    """The whole configuration a sweep trial ran with (its experiment's defaults plus its
    overrides), or None when the experiment or a setting is no longer known here."""
    from ..core.errors import ReglabError
    from ..runs.runner import make_config

    try:
        return config_to_dict(make_config(experiment, overrides))
    except (ReglabError, LookupError, TypeError, ValueError):
        return None


def _read_sweep(folder: Path) -> tuple[list[Sample], list[str]]:
    manifest, why = read_json(folder / SWEEP_MARK)
    if why is not None or not isinstance(manifest, dict) or not isinstance(manifest.get("trials"), list):
        return [], [f"{folder}: {why or SWEEP_MARK + ' is not a sweep manifest'}; left out"]
    experiment = str(manifest.get("experiment"))
    trials = {t.get("index"): t for t in manifest["trials"] if isinstance(t, dict)}
    rows = read_csv_rows(folder / "results.csv")
    notes: list[str] = []
    not_complete: dict[str, int] = {}
    groups: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    configs: dict[tuple[str, Any], dict[str, Any]] = {}
    rebuilt = True
    for row in rows:
        trial = trials.get(row.get("trial"))
        if trial is None:
            not_complete["unknown to sweep.json"] = not_complete.get("unknown to sweep.json", 0) + 1
            continue
        if row.get("status") != "complete":
            status = str(row.get("status") or "unfinished")
            not_complete[status] = not_complete.get(status, 0) + 1
            continue
        overrides = {k: v for k, v in trial.get("overrides", {}).items() if k not in _NOT_CONFIG}
        ident = (repr(sorted(overrides.items())), trial.get("seed"))
        if ident not in configs:
            full = _full_config(experiment, overrides)
            rebuilt = rebuilt and full is not None
            settings = full if full is not None else dict(overrides)
            # with K folds the sample is their average: it has no one fold
            dropped = _NOT_CONFIG if "fold" in trial.get("overrides", {}) else ("seed",)
            configs[ident] = {k: v for k, v in settings.items() if k not in dropped}
        groups.setdefault(ident, []).append(row)
    if not_complete:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(not_complete.items()))
        notes.append(f"{folder}: trials not complete ({counts}); left out")
    missing = len(trials) - len(rows)
    if missing > 0:
        notes.append(f"{folder}: {missing} of {len(trials)} trials have no result (the sweep did not finish); left out")
    if not rebuilt:
        notes.append(
            f"{folder}: the {experiment!r} configuration could not be rebuilt here; its runs are grouped by the "
            "sweep's own settings"
        )
    summary, _ = read_json(folder / "summary.json")
    versions = _versions(summary)
    samples = []
    for ident, seed_rows in groups.items():
        keys = {k for row in seed_rows for k, v in row.items() if is_number(v)} - {"trial", "seed", "fold"}
        values = {}
        for key in sorted(keys):
            numbers = [float(row[key]) for row in seed_rows if is_number(row.get(key))]
            if len(numbers) == len(seed_rows):  # the fold average, only when every fold has the number
                values[key] = statistics.fmean(numbers)
        trial_ids = ", ".join(str(row["trial"]) for row in seed_rows)
        source = f"{folder} (trial{'s' if len(seed_rows) > 1 else ''} {trial_ids})"
        samples.append(Sample(source, experiment, configs[ident], ident[1], values, versions=versions))
    return samples, notes
