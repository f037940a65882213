"""The experiment catalogue: one module per experiment of the seed notes.

Each module defines its frozen config, its run function and its sweep
declaration, and registers them with :func:`reglab.runs.experiment.register`
when imported; this explicit list is the whole catalogue, in ``reglab list``
order. Shared settings and the Fashion-MNIST pieces are in :mod:`.common`; the
stacked trainers of the vectorized sweep backend sit beside the experiment
they stack (``*_stacked.py``).

The registry's names are re-exported here (``from reglab.experiments import
register, Result, RunContext``), where users have always found them.
"""

from ..runs.experiment import (
    EXPERIMENTS,
    Experiment,
    Result,
    RunContext,
    get_experiment,
    list_experiments,
    register,
    setting_help,
)

# The import order is the catalogue order of `reglab list`.
# isort: off
from . import dropout_mlp  # noqa: F401  (registers dropout-scratch, dropout)
from . import curve_fit  # noqa: F401  (registers curve-fit)
from . import weight_decay  # noqa: F401  (registers weight-decay)
from . import linear_regression  # noqa: F401  (registers linear-regression)
from . import softmax  # noqa: F401  (registers softmax)
from . import dropout_grid  # noqa: F401  (registers dropout-grid)
from . import l1_vs_l2  # noqa: F401  (registers l1-vs-l2)
from . import dropout_equivalence  # noqa: F401  (registers dropout-equivalence)
from . import init_stability  # noqa: F401  (registers init-stability)
from . import freeze  # noqa: F401  (registers freeze)
from . import early_stopping_demo  # noqa: F401  (registers early-stopping)
from . import mc_dropout  # noqa: F401  (registers mc-dropout)
from . import zoo  # noqa: F401  (registers zoo)
# isort: on

__all__ = [
    "EXPERIMENTS",
    "Experiment",
    "Result",
    "RunContext",
    "get_experiment",
    "list_experiments",
    "register",
    "setting_help",
]
