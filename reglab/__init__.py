"""reglab: a regularization laboratory for PyTorch.

Conventions: ``p`` is always the drop probability (PyTorch's convention);
reglab's ``l2_penalty(lam)`` is ``lam / 2 * sum(w**2)``, the penalty whose
gradient SGD's ``weight_decay=lam`` adds; biases and normalisation weights get
no decay by default.
"""

__version__ = "0.1.0"

from .activity import (
    ActivityRegularization,
    activation_regularization,
    activity_penalty,
    collect_activity_penalties,
    temporal_activation_regularization,
)
from .callbacks import Callback, EpochTable, LambdaCallback
from .data import BatchIterator, load_fashion_mnist, synthetic_linear
from .conformance import ConformanceReport, check_dropout, check_penalty
from .constraints import ApplyConstraint, Constraint, MaxNorm, NonNeg, UnitNorm
from .drop import Dropout, StochasticModule, dropout, keep_mask
from .dropconnect import DropConnect, drop_connect_weight
from .embedding import EmbeddingDropout, embedding_dropout_weight
from .losses import get_loss
from .mc import MCPrediction, mc_mode, mc_predict, predictive_entropy
from .noise import (
    AlphaDropout,
    FeatureAlphaDropout,
    GaussianDropout,
    GaussianNoise,
    alpha_dropout,
    feature_alpha_dropout,
    gaussian_dropout,
    gaussian_noise,
)
from .sequence import LockedDropout, locked_dropout
from .spatial import Dropout1d, Dropout2d, Dropout3d, dropout1d, dropout2d, dropout3d
from .structured import DropBlock2d, DropPath, drop_block_2d, drop_block_gamma, drop_path
from .vanilla import VanillaDropout, vanilla_dropout
from .early_stopping import EarlyStopping
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
from .penalties import (
    L1,
    L2,
    ElasticNet,
    elastic_net_penalty,
    l1_penalty,
    l2_penalty,
    param_groups,
    split_parameters,
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
    "VanillaDropout",
    "vanilla_dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "LockedDropout",
    "locked_dropout",
    "GaussianDropout",
    "gaussian_dropout",
    "GaussianNoise",
    "gaussian_noise",
    "AlphaDropout",
    "alpha_dropout",
    "FeatureAlphaDropout",
    "feature_alpha_dropout",
    "DropPath",
    "drop_path",
    "DropBlock2d",
    "drop_block_2d",
    "drop_block_gamma",
    "DropConnect",
    "drop_connect_weight",
    "EmbeddingDropout",
    "embedding_dropout_weight",
    "MCPrediction",
    "mc_mode",
    "mc_predict",
    "predictive_entropy",
    "l1_penalty",
    "l2_penalty",
    "elastic_net_penalty",
    "L1",
    "L2",
    "ElasticNet",
    "param_groups",
    "split_parameters",
    "activity_penalty",
    "ActivityRegularization",
    "collect_activity_penalties",
    "activation_regularization",
    "temporal_activation_regularization",
    "Constraint",
    "MaxNorm",
    "UnitNorm",
    "NonNeg",
    "ApplyConstraint",
    "EarlyStopping",
    "get_loss",
    "check_dropout",
    "check_penalty",
    "ConformanceReport",
    "run_sweep",
    "resume_sweep",
    "SweepResult",
    "SweepSpec",
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

# Sweeps import the experiment catalogue (and with it matplotlib): loaded on
# first use, so that ``import reglab`` stays light.
_LAZY = {name: "reglab.sweeps" for name in ("run_sweep", "resume_sweep", "SweepResult", "SweepSpec")}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'reglab' has no attribute {name!r}")
