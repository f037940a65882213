"""Sweeps: a grid of settings times seeds, honest selection, on local processes,
one vectorized stacked model, or Ray. See ``docs/sweeps.md``."""

from .grid import Grid, parse_axis, parse_grid
from .selection import Selection, aggregate, parse_select, select
from .spec import Knob, SweepSpec, default_spec, get_spec, register_spec
from .store import SweepStore, read_results
from .sweep import SweepResult, make_trials, resume_sweep, run_sweep
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
    "default_spec",
    "get_spec",
    "make_trials",
    "parse_axis",
    "parse_grid",
    "parse_select",
    "read_results",
    "register_spec",
    "resume_sweep",
    "run_sweep",
    "run_trial",
    "select",
]
