"""``reglab compare``: runs grouped by configuration, compared over seeds.

Samples (see :mod:`reglab.reports.samples`) whose configurations are equal
except for the seed form one group. :func:`compare` returns the configuration
keys that differ between groups, each group's final metric (n, mean, standard
deviation, min, max) and, for exactly two groups, the difference of their
means with a 95 % interval and a p-value from Welch's t-test
(:mod:`reglab.reports.stats`). Samples of another experiment than the first
usable one, or without the metric, are left out with one sentence each.

:func:`write_comparison` writes ``compare.json`` (everything above) and
``compare.png``: every run's curve of the metric over epochs, one colour per
group, with the group's mean and a band of one standard deviation over seeds;
beside it the final values per group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..runs.run_dir import RunDir
from ..runs.runner import versions
from .samples import COMPARE_MARK, Inputs, Sample, is_number, load_inputs
from .stats import Description, Difference, describe, require_scipy, welch_difference

__all__ = ["Group", "Comparison", "compare", "group_samples", "write_comparison", "comparison_figure", "format_value"]

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


@dataclass
class Group:
    """Samples with one configuration (up to the seed), and their final metric."""

    label: str
    config: dict[str, Any]  # the values of the keys that differ between groups
    samples: list[Sample]
    values: list[float]

    @property
    def description(self) -> Description:
        return describe(self.values)


@dataclass
class Comparison:
    """What :func:`compare` found; :meth:`lines` is the printed report."""

    experiment: str
    metric: str
    groups: list[Group]
    differing: list[str]
    difference: Difference | None
    left_out: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "metric": self.metric,
            "differing": self.differing,
            "groups": [
                {
                    "label": g.label,
                    "config": g.config,
                    **g.description.to_json(),
                    "runs": [{"source": s.source, "seed": s.seed, "value": v} for s, v in zip(g.samples, g.values)],
                }
                for g in self.groups
            ],
            "difference": None if self.difference is None else self.difference.to_json(),
            "difference_of": [g.label for g in self.groups[::-1]] if self.difference is not None else None,
            "left_out": self.left_out,
            "notes": self.notes,
            "common_config": common_config(self.groups, self.differing),
            "run_versions": _distinct([s.versions for g in self.groups for s in g.samples if s.versions]),
            "versions": {**versions(), **_scipy_version()},
        }

    def lines(self) -> list[str]:
        """The report as printed by ``reglab compare``."""
        out = [f"left out: {why}" for why in self.left_out]
        out += [f"note: {note}" for note in self.notes]
        n_runs = sum(len(g.samples) for g in self.groups)
        differing = ", ".join(self.differing) if self.differing else "none: one configuration"
        out.append(
            f"{n_runs} {self.experiment} run(s) in {len(self.groups)} configuration(s); differing settings: {differing}"
        )
        header = ["configuration", "n", "mean", "std", "min", "max"]
        rows = [
            [g.label, str(d.n), *(format_value(x) for x in (d.mean, d.std, d.min, d.max))]
            for g, d in ((g, g.description) for g in self.groups)
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        out.append(f"final {self.metric}:")
        for row in [header, *rows]:
            out.append(
                "  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
            )
        if self.difference is not None:
            out.append(difference_sentence(self.metric, self.groups[0].label, self.groups[1].label, self.difference))
        elif len(self.groups) == 2:
            out.append("no difference is tested: each group needs at least 2 seeds")
        elif len(self.groups) > 2:
            out.append("the difference and its interval are given for two configurations; pass the runs of two")
        return out


def format_value(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4f}"


def difference_sentence(metric: str, first: str, second: str, d: Difference) -> str:
    """'difference (SECOND) - (FIRST) in METRIC: +x, 95 % CI [l, h] (Welch's t-test: t, df, p)'."""
    head = f"difference ({second}) - ({first}) in {metric}: {d.estimate:+.4f}"
    if not math.isfinite(d.t):
        return head + " (no spread within either group: no interval or p-value)"
    return (
        f"{head}, {d.confidence:.0%} CI [{d.low:+.4f}, {d.high:+.4f}] "
        f"(Welch's t-test: t = {d.t:.3f}, df = {d.df:.1f}, p = {d.p_value:.3g})"
    )


def _distinct(dicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for d in dicts:
        if d not in out:
            out.append(d)
    return out


def _scipy_version() -> dict[str, str]:
    try:
        import scipy
    except ImportError:
        return {}
    return {"scipy": str(scipy.__version__)}


def common_config(groups: Sequence[Group], differing: Sequence[str]) -> dict[str, Any]:
    """The settings shared by every group."""
    if not groups or not groups[0].samples:
        return {}
    return {k: v for k, v in groups[0].samples[0].config.items() if k not in differing}


def _label(config: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in config.items()) or "all runs"


def group_samples(samples: Sequence[Sample], metric: str) -> tuple[list[Group], list[str]]:
    """Group ``samples`` by configuration (first-seen order); returns the groups and the
    sorted keys whose values differ between them."""
    by_config: dict[str, list[Sample]] = {}
    for sample in samples:
        by_config.setdefault(repr(sorted(sample.config.items())), []).append(sample)
    members = list(by_config.values())
    keys: list[str] = []
    for group in members:
        keys.extend(k for k in group[0].config if k not in keys)
    differing = [k for k in keys if len({repr(g[0].config.get(k)) for g in members}) > 1]
    groups = []
    for group in members:
        config = {k: group[0].config.get(k) for k in differing}
        groups.append(Group(_label(config), config, list(group), [s.values[metric] for s in group]))
    return groups, differing


def compare(paths: Sequence[str | Path], *, metric: str = "test_acc", confidence: float = 0.95) -> Comparison:
    """Compare the runs and sweeps named by ``paths`` on their final ``metric``.

    Raises:
        ConfigError: nothing usable is left, or the samples lack ``metric``
            (the message lists the metrics they have); scipy is missing when two
            groups are to be tested.
    """
    from ..core.errors import ConfigError

    inputs: Inputs = load_inputs(paths)
    left_out = list(inputs.left_out)
    if not inputs.samples:
        raise ConfigError("nothing to compare: " + (" ".join(left_out) or "no folders were given"))
    experiment = inputs.samples[0].experiment
    usable: list[Sample] = []
    for sample in inputs.samples:
        if sample.experiment != experiment:
            left_out.append(f"{sample.source}: a {sample.experiment!r} run, the others are {experiment!r}; left out")
        elif not is_number(sample.values.get(metric)):
            left_out.append(f"{sample.source}: has no finite final {metric}; left out")
        else:
            usable.append(sample)
    if not usable:
        known = sorted({k for s in inputs.samples if s.experiment == experiment for k in s.values})
        raise ConfigError(
            f"no {experiment} run has a final {metric}; --metric may be one of: {', '.join(known) or '(none)'}"
        )
    groups, differing = group_samples(usable, metric)
    notes = []
    for group in groups:
        group_seeds = [s.seed for s in group.samples]
        if len(set(map(repr, group_seeds))) < len(group_seeds):
            notes.append(f"{group.label}: some runs share a seed (seeds {sorted(group_seeds, key=repr)})")
    difference = None
    if len(groups) == 2 and all(len(g.values) >= 2 for g in groups):
        require_scipy()
        difference = welch_difference(groups[0].values, groups[1].values, confidence=confidence)
    return Comparison(experiment, metric, groups, differing, difference, left_out, notes)


def comparison_figure(comparison: Comparison) -> Any:
    """Curves of the metric over epochs per run (thin), the mean and ±1 std band per
    group, and the final values per group; one colour per group."""
    from matplotlib.figure import Figure

    metric = comparison.metric
    with_curves = [g for g in comparison.groups if any(metric in (s.curve[0] if s.curve else {}) for s in g.samples)]
    ncols = 2 if with_curves else 1
    fig = Figure(figsize=(6.0 * ncols, 4.2))
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    if with_curves:
        ax = axes[0]
        for index, group in enumerate(comparison.groups):
            color = COLORS[index % len(COLORS)]
            curves = [_curve(s, metric) for s in group.samples]
            curves = [c for c in curves if c[0]]
            for epochs, values in curves:
                ax.plot(epochs, values, color=color, alpha=0.35, linewidth=0.8)
            if not curves:
                continue
            length = min(len(c[0]) for c in curves)  # epochs every run of the group reached
            epochs = curves[0][0][:length]
            stack = [c[1][:length] for c in curves]
            means = [math.fsum(col) / len(col) for col in zip(*stack)]
            stds = [describe(list(col)).std if len(col) > 1 else 0.0 for col in zip(*stack)]
            ax.plot(epochs, means, color=color, linewidth=2, label=f"{group.label} (mean of {len(curves)})")
            ax.fill_between(
                epochs,
                [m - s for m, s in zip(means, stds)],
                [m + s for m, s in zip(means, stds)],
                color=color,
                alpha=0.2,
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(f"{comparison.experiment}: {metric} per epoch (band: ±1 std over seeds)", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    ax = axes[-1]
    for index, group in enumerate(comparison.groups):
        color = COLORS[index % len(COLORS)]
        d = group.description
        n = len(group.values)
        offsets = [(i - (n - 1) / 2) * 0.25 / max(n, 1) for i in range(n)]  # spread the seeds a little
        ax.scatter([index + o for o in offsets], group.values, color=color, alpha=0.7, s=18, zorder=3)
        error = d.std if math.isfinite(d.std) else 0.0
        ax.errorbar([index + 0.3], [d.mean], yerr=[error], fmt="D", color=color, capsize=4, zorder=4)
    ax.set_xticks(range(len(comparison.groups)))
    ax.set_xticklabels(
        [g.label for g in comparison.groups], rotation=15 if len(comparison.groups) > 3 else 0, fontsize=8
    )
    ax.set_xlim(-0.6, len(comparison.groups) - 0.4)
    ax.set_ylabel(f"final {metric}")
    ax.set_title("final value per run; diamond: mean ± 1 std", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def _curve(sample: Sample, metric: str) -> tuple[list[float], list[float]]:
    rows = [r for r in sample.curve if is_number(r.get(metric))]
    epochs = [float(r.get("epoch", i + 1)) for i, r in enumerate(rows)]
    return epochs, [float(r[metric]) for r in rows]


def write_comparison(comparison: Comparison, out: str | Path) -> RunDir:
    """Write ``compare.json`` and ``compare.png`` into the folder ``out`` (created if
    missing; a folder that already holds a comparison is refused, never overwritten)."""
    from ..core.errors import ConfigError

    folder = Path(out)
    if (folder / COMPARE_MARK).exists():
        raise ConfigError(f"--out {folder} already holds a comparison; choose another folder")
    folder.mkdir(parents=True, exist_ok=True)
    run_dir = RunDir(folder)
    run_dir.save_figure("compare.png", comparison_figure(comparison))
    run_dir.write_json(COMPARE_MARK, comparison.to_json())
    return run_dir
