"""The experiment catalogue. Each module registers its experiments on import;
this explicit list is the whole catalogue, in ``reglab list`` order."""

from . import dropout_mlp  # noqa: F401  (registers dropout-scratch, dropout)
from . import curve_fit  # noqa: F401  (registers curve-fit)
from . import weight_decay  # noqa: F401  (registers weight-decay)
from . import linear_regression  # noqa: F401  (registers linear-regression)
from . import softmax  # noqa: F401  (registers softmax)
from . import early_stopping  # noqa: F401  (registers early-stopping)
from . import mc_dropout  # noqa: F401  (registers mc-dropout)
from ._base import EXPERIMENTS, Experiment, Result, RunContext, get_experiment, list_experiments, register

__all__ = ["EXPERIMENTS", "Experiment", "Result", "RunContext", "get_experiment", "list_experiments", "register"]
