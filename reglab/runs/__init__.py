"""Runs: what makes a training a recorded, reproducible run.

Depends on :mod:`reglab.core` and :mod:`reglab.engine`.

- :mod:`.run_dir`: run directories, created exclusively and written
  atomically, and the per-epoch ``metrics.csv`` writer;
- :mod:`.config`: frozen-dataclass configs, ``key=value`` overrides, JSON;
- :mod:`.experiment`: what an experiment is (config type, run function, sweep
  declaration) and the registry that holds them;
- :mod:`.sweep_spec`: what a sweep needs to know about an experiment;
- :mod:`.runner`: one experiment into one run directory (``reglab run``);
- :mod:`.figures`: the figures run directories hold.
"""

from .config import apply_overrides, config_from_dict, config_to_dict, parse_overrides
from .experiment import EXPERIMENTS, Experiment, Result, RunContext, get_experiment, list_experiments, register
from .run_dir import MetricsWriter, RunDir
from .runner import RunOutcome, make_config, run_experiment, versions
from .sweep_spec import Knob, Selection, SweepSpec

__all__ = [
    "RunDir",
    "MetricsWriter",
    "apply_overrides",
    "parse_overrides",
    "config_to_dict",
    "config_from_dict",
    "EXPERIMENTS",
    "Experiment",
    "Result",
    "RunContext",
    "register",
    "get_experiment",
    "list_experiments",
    "SweepSpec",
    "Knob",
    "Selection",
    "RunOutcome",
    "run_experiment",
    "make_config",
    "versions",
]
