"""Sweeps: a grid of settings times seeds, honest selection, on local processes,
one vectorized stacked model, or Ray. See ``docs/sweeps.md``.

Generic over experiments: what a sweep needs to know about one is its
:class:`~reglab.runs.sweep_spec.SweepSpec`, declared where the experiment is
registered.

- :mod:`.grid`: ``key=v1,v2`` and ``log:``/``lin:`` axes;
- :mod:`.trial`: one trial, run without a folder, into one results row;
- :mod:`.selection`: validation / K-fold selection, never the test set;
- :mod:`.store`: the sweep folder (``trials.jsonl``, ``results.csv``);
- :mod:`.sweep`: :func:`run_sweep` and :func:`resume_sweep`;
- :mod:`.knob_figures`: metric-against-knob plots;
- :mod:`.backends`: ``local`` processes, ``vectorized`` stacks, ``ray`` (Ray Tune).
"""

from ..runs.sweep_spec import Knob, Selection, SweepSpec
from .grid import Grid, parse_axis, parse_grid
from .selection import aggregate, parse_select, select
from .store import SweepStore, read_results
from .sweep import SweepResult, get_spec, make_trials, resume_sweep, run_sweep
from .trial import Trial, run_trial

__all__ = [
    "Grid",
    "Knob",
    "Selection",
    "SweepResult",
    "SweepSpec",
    "SweepStore",
    "Trial",
    "aggregate",
    "get_spec",
    "make_trials",
    "parse_axis",
    "parse_grid",
    "parse_select",
    "read_results",
    "resume_sweep",
    "run_sweep",
    "run_trial",
    "select",
]
