"""The regularizer library: everything that goes inside a model or its loss.

Each family is a function + Module pair in a module of its own; ``p`` is always
the drop probability. This package depends on torch and :mod:`reglab.core`
only.

- dropout family: :mod:`.inverted_dropout` (inverted dropout, ``noise_shape``),
  :mod:`.noninverted_dropout`, :mod:`.channel_dropout` (1d/2d/3d),
  :mod:`.sequence_dropout`, :mod:`.noise` (Gaussian dropout and noise, alpha
  dropout); their shared shell in :mod:`.base` and masks in :mod:`.masks`;
- structured: :mod:`.stochastic_depth` (stochastic depth), :mod:`.drop_block`;
- weights: :mod:`.drop_connect`, :mod:`.embedding_dropout`;
- Monte Carlo dropout at prediction time: :mod:`.mc_prediction`;
- terms added to the loss: :mod:`.penalties` (L1, L2, elastic net, parameter
  groups), :mod:`.activity` (activity regularization, AR, TAR);
- weight constraints: :mod:`.constraints` (applied by the engine's
  :class:`~reglab.engine.callbacks.ApplyConstraint`).
"""

from .activity import (
    ActivityRegularization,
    activation_regularization,
    activity_penalty,
    collect_activity_penalties,
    temporal_activation_regularization,
)
from .base import DropoutBase, StochasticModule
from .channel_dropout import Dropout1d, Dropout2d, Dropout3d, dropout1d, dropout2d, dropout3d
from .constraints import Constraint, MaxNorm, NonNeg, UnitNorm
from .drop_block import DropBlock2d, drop_block_2d, drop_block_gamma
from .drop_connect import DropConnect, drop_connect_weight
from .embedding_dropout import EmbeddingDropout, embedding_dropout_weight
from .inverted_dropout import Dropout, dropout
from .masks import keep_mask
from .mc_prediction import MCPrediction, mc_mode, mc_predict, predictive_entropy
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
from .noninverted_dropout import VanillaDropout, vanilla_dropout
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
from .sequence_dropout import LockedDropout, locked_dropout
from .stochastic_depth import DropPath, drop_path, drop_path_rates

__all__ = [
    "StochasticModule",
    "DropoutBase",
    "keep_mask",
    "dropout",
    "Dropout",
    "vanilla_dropout",
    "VanillaDropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "locked_dropout",
    "LockedDropout",
    "gaussian_dropout",
    "GaussianDropout",
    "gaussian_noise",
    "GaussianNoise",
    "alpha_dropout",
    "AlphaDropout",
    "feature_alpha_dropout",
    "FeatureAlphaDropout",
    "drop_path",
    "DropPath",
    "drop_path_rates",
    "drop_block_2d",
    "DropBlock2d",
    "drop_block_gamma",
    "drop_connect_weight",
    "DropConnect",
    "embedding_dropout_weight",
    "EmbeddingDropout",
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
]
