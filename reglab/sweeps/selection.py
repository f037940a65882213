"""Honest model selection: a validation split or K-fold cross-validation, never the test set.

``--select val=F`` sets the experiment's ``val_fraction=F``: every trial holds
out the same fraction F of its training data (the split's permutation has a
fixed seed, see :mod:`reglab.data.splits`). ``--select kfold=K`` runs K
trials per configuration and seed, ``kfold=K, fold=i`` for i = 0..K-1, and
averages the K validation metrics, as d2l's ``k_fold`` does.

:func:`aggregate` turns result rows into one entry per configuration: for each
seed the fold average, then the mean and standard deviation over seeds.
:func:`select` ranks configurations on the *validation* metric alone; the
test metric is reported beside it, with the test-optimal configuration, to
answer "is the validation choice really the best?".

A configuration with a trial that a scheduler or pruner stopped early (status
``stopped``, see :mod:`reglab.sweeps.reporting`) and that did not also finish
is no candidate, neither for the selection nor as the test-optimal one: its
numbers are those of a model trained for fewer epochs. A seed and fold finished
twice (a search that sampled the same point again) counts once.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from ..core.errors import ConfigError
from ..runs.sweep_spec import SPLITS, Selection, SweepSpec
from .reporting import STOPPED

__all__ = ["Selection", "parse_select", "split_overrides", "aggregate", "select"]


def parse_select(text: str | Selection | None) -> Selection | None:
    """Parse ``val=FRACTION`` or ``kfold=K`` (None: no selection)."""
    if text is None or isinstance(text, Selection):
        return text
    kind, _, raw = text.partition("=")
    try:
        if kind == "val":
            value: float | int = float(raw)
            if 0.0 < value < 1.0:
                return Selection("val", value)
        elif kind == "kfold":
            value = int(raw)
            if value >= 2:
                return Selection("kfold", value)
    except ValueError:
        pass
    raise ConfigError(f"--select expects val=FRACTION (0 < FRACTION < 1) or kfold=K (K >= 2); received {text!r}")


def split_overrides(selection: Selection | None, config_fields: Sequence[str], experiment: str) -> list[dict[str, Any]]:
    """Overrides per trial of one configuration and seed: one, or K with folds."""
    if selection is None:
        return [{}]
    needed = ("val_fraction",) if selection.kind == "val" else ("kfold", "fold")
    missing = [k for k in needed if k not in config_fields]
    if missing:
        raise ConfigError(
            f"experiment {experiment!r} has no validation split setting ({', '.join(missing)}); "
            "it cannot be used with --select"
        )
    if selection.kind == "val":
        return [{"val_fraction": float(selection.value)}]
    return [{"kfold": int(selection.value), "fold": i} for i in range(int(selection.value))]


def _mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def aggregate(rows: Sequence[dict[str, Any]], knobs: Sequence[str], spec: SweepSpec) -> list[dict[str, Any]]:
    """One entry per configuration (in first-seen order) from the ``complete`` rows.

    Each entry holds the knob values, ``seeds`` (how many seeds finished),
    ``failed`` (trials failed or diverged), ``stopped`` (seeds and folds stopped
    early and not finished), and for each split ``<key>_mean`` / ``<key>_std``
    over seeds, where each seed's value is its fold average.
    """
    configs: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in rows:
        ident = tuple(repr(row[k]) for k in knobs)
        entry = configs.setdefault(
            ident, {"point": {k: row[k] for k in knobs}, "per_seed": {}, "failed": 0, "stopped": set(), "done": set()}
        )
        pair = (repr(row["seed"]), repr(row.get("fold", "")))
        if row.get("status") == STOPPED:
            entry["stopped"].add(pair)
            continue
        if row.get("status") != "complete":
            entry["failed"] += 1
            continue
        if pair in entry["done"]:
            continue
        entry["done"].add(pair)
        entry["per_seed"].setdefault(row["seed"], []).append(row)
    out = []
    for entry in configs.values():
        item: dict[str, Any] = dict(entry["point"])
        item["seeds"] = len(entry["per_seed"])
        item["failed"] = entry["failed"]
        item["stopped"] = len(entry["stopped"] - entry["done"])
        for split in SPLITS:
            key = spec.metric_key(split)
            per_seed = []
            for seed_rows in entry["per_seed"].values():
                vals = [float(r[key]) for r in seed_rows if _is_number(r.get(key))]
                if vals:
                    per_seed.append(statistics.fmean(vals))
            mean, std = _mean_std(per_seed)
            item[f"{key}_mean"], item[f"{key}_std"] = mean, std
        out.append(item)
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _best(configs: list[dict[str, Any]], key: str, spec: SweepSpec) -> dict[str, Any] | None:
    best = None
    for item in configs:
        if item.get("stopped", 0):
            continue  # trained for fewer epochs: not comparable
        value = item.get(f"{key}_mean", math.nan)
        if _is_number(value) and (best is None or spec.better(value, best[f"{key}_mean"])):
            best = item
    return best


def select(
    configs: list[dict[str, Any]], knobs: Sequence[str], spec: SweepSpec, selection: Selection | None
) -> dict[str, Any]:
    """The selected configuration (on validation only), why, and the test-optimal one."""
    val_key, test_key = spec.metric_key("val"), spec.metric_key("test")
    word = "highest" if spec.mode == "max" else "lowest"

    def brief(item: dict[str, Any] | None) -> dict[str, Any] | None:
        if item is None:
            return None
        out = {k: item[k] for k in knobs}
        for key in (val_key, test_key):
            out[key] = item.get(f"{key}_mean")
            out[f"{key}_std"] = item.get(f"{key}_std")
        out["seeds"] = item["seeds"]
        return out

    test_best = _best(configs, test_key, spec)
    report: dict[str, Any] = {
        "metric": spec.metric,
        "mode": spec.mode,
        "selection": str(selection) if selection is not None else None,
        "test_optimal": brief(test_best),
    }
    chosen = _best(configs, val_key, spec) if selection is not None else None
    if selection is None or chosen is None:  # (chosen is None whenever selection is)
        report["selected"] = None
        report["reason"] = (
            "no selection: run with --select val=FRACTION or --select kfold=K"
            if selection is None
            else f"no configuration finished with a finite {val_key}"
        )
        return report
    how = (
        f"a held-out {selection.value:g} of the training data"
        if selection.kind == "val"
        else f"{selection.value}-fold cross-validation (fold average)"
    )
    if spec.val_how is not None:
        how = spec.val_how.format(value=selection.value)
    report["selected"] = brief(chosen)
    stopped = sum(1 for item in configs if item.get("stopped", 0))
    candidates = f"{len(configs) - stopped} configuration(s)" + (
        f" ({stopped} more stopped early, not candidates)" if stopped else ""
    )
    report["reason"] = (
        f"{word} mean {val_key} ({chosen[f'{val_key}_mean']:.6g} over {chosen['seeds']} seed(s)) "
        f"among {candidates}, validated on {how}; the test set was not used"
    )
    same = test_best is not None and all(repr(chosen[k]) == repr(test_best[k]) for k in knobs)
    report["selected_is_test_optimal"] = same
    if test_best is not None and _is_number(chosen.get(f"{test_key}_mean")):
        report["test_regret"] = abs(chosen[f"{test_key}_mean"] - test_best[f"{test_key}_mean"])
    return report
