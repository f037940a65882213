"""``reglab sweep EXPERIMENT --help``: what can be swept in that experiment.

Printed after the generic options: the experiment's knobs (its sweep aliases
first, e.g. weight-decay's ``lambda`` with the settings it sets, then its plain
settings) with their types, defaults and help, which knobs plot on a log
axis, what the sweep sets itself (``--seeds``, ``--select``) or fixes in every
trial, the metric it selects on and its direction, and whether the vectorized
backend applies.
"""

from __future__ import annotations

import dataclasses
import textwrap

from ..runs.config import describe_config, type_name
from ..runs.experiment import Experiment
from ..sweeps.grid import RESERVED

__all__ = ["sweep_help"]


def _table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    header = ("key", "type", "default", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    return [
        f"  {key.ljust(widths[0])}  {kind.ljust(widths[1])}  {default.ljust(widths[2])}  {text}".rstrip()
        for key, kind, default, text in rows
    ]


def sweep_help(experiment: Experiment) -> str:
    """The experiment-specific part of ``reglab sweep EXPERIMENT --help``."""
    spec = experiment.sweep
    config = experiment.default_config()
    lines = [f"experiment {experiment.name}: " + textwrap.fill(experiment.summary, 88, subsequent_indent="  ")]
    log = set(spec.log_knobs)

    def mark(name: str) -> str:
        return " [log axis]" if name in log else ""

    if spec.knobs:
        lines += ["", "sweep aliases (key=v1,v2,... or key=log:A:B:N / lin:A:B:N), each setting other settings:"]
        width = max(len(k.name) for k in spec.knobs)
        for knob in spec.knobs:
            sets = knob.overrides(knob.example)
            example = ", ".join(f"{k}={v!r}" for k, v in sets.items())
            defaults = ", ".join(f"{k}={getattr(config, k, '?')!r}" for k in sets)
            pad = " " * (width + 4)
            lines.append(
                f"  {knob.name.ljust(width)}  {type_name(knob.example)}  {knob.help}{mark(knob.name)}".rstrip()
            )
            lines.append(f"{pad}e.g. {knob.name}={knob.example!r} sets {example}")
            lines.append(f"{pad}(the experiment's defaults: {defaults})")
    fields = [f.name for f in dataclasses.fields(config)]
    plain = [
        (name, kind, default, text + mark(name))
        for name, kind, default, text in describe_config(config)
        if name not in RESERVED and name not in spec.base
    ]
    lines += ["", "settings (key=v1,v2,... or key=log:A:B:N / lin:A:B:N):", *_table(plain)]
    own = [k for k in RESERVED if k in fields]
    if own:
        lines += ["", f"set by the sweep itself: {', '.join(own)} (--seeds, --select)"]
    if spec.base:
        lines.append("fixed in every trial: " + ", ".join(f"{k}={v!r}" for k, v in spec.base.items()))
    direction = "maximised" if spec.mode == "max" else "minimised"
    keys = ", ".join(spec.metric_key(split) for split in ("train", "val", "test"))
    lines += [
        "",
        f"metric: {spec.metric}, {direction}: --select ranks on {spec.metric_key('val')} (reported: {keys})",
        "vectorized backend: "
        + ("available (all variants of one architecture as one stacked model)" if spec.vectorized else "no"),
    ]
    return "\n".join(lines)
