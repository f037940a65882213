"""reglab: a regularization laboratory for PyTorch.

Conventions: ``p`` is always the drop probability (PyTorch's convention);
reglab's ``l2_penalty(lam)`` is ``lam / 2 * sum(w**2)``, the penalty whose
gradient SGD's ``weight_decay=lam`` adds; biases and normalisation weights get
no decay by default.
"""

__version__ = "0.1.0"

from .callbacks import Callback, EpochTable, LambdaCallback
from .data import BatchIterator, load_fashion_mnist, synthetic_linear
from .drop import Dropout, StochasticModule, dropout, keep_mask
from .errors import (
    ChecksumError,
    ConfigError,
    CorruptDataError,
    DataError,
    DataNotFoundError,
    DivergenceError,
    InvalidArgumentError,
    ReglabError,
)
from .rundir import RunDir
from .runtime import make_generator, resolve_device, seed_everything
from .trainer import History, TrainState, evaluate, fit

__all__ = [
    "__version__",
    "Callback",
    "EpochTable",
    "LambdaCallback",
    "BatchIterator",
    "load_fashion_mnist",
    "synthetic_linear",
    "Dropout",
    "StochasticModule",
    "dropout",
    "keep_mask",
    "ChecksumError",
    "ConfigError",
    "CorruptDataError",
    "DataError",
    "DataNotFoundError",
    "DivergenceError",
    "InvalidArgumentError",
    "ReglabError",
    "RunDir",
    "make_generator",
    "resolve_device",
    "seed_everything",
    "History",
    "TrainState",
    "evaluate",
    "fit",
]
