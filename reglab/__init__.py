"""reglab: a regularization laboratory for PyTorch.

Conventions: ``p`` is always the drop probability (PyTorch's convention);
reglab's ``l2_penalty(lam)`` is ``lam / 2 * sum(w**2)``, the penalty whose
gradient SGD's ``weight_decay=lam`` adds; biases and normalisation weights get
no decay by default.

The top-level namespace holds what goes inside a model or a training script:
the regularizers (:mod:`reglab.regularizers`) and the engine
(:mod:`reglab.engine`). Data, errors, conformance checks, sweeps and run
directories have namespaces of their own (:mod:`reglab.data`,
:mod:`reglab.errors`, :mod:`reglab.conformance`, :mod:`reglab.sweeps`,
:mod:`reglab.runs`); their names that used to sit here still import from here,
loaded on first use. The layers are described in ``docs/architecture.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import _legacy_paths
from .core.version import __version__
from .engine import (
    ApplyConstraint,
    Callback,
    Checkpoint,
    ConstantSchedule,
    CosineSchedule,
    CurriculumDropout,
    DropBlockRamp,
    EarlyStopping,
    EpochTable,
    History,
    LambdaCallback,
    LinearWarmup,
    RegularizationSchedule,
    Schedule,
    StepSchedule,
    TrainState,
    evaluate,
    fit,
    get_loss,
    make_generator,
    resolve_device,
    seed_everything,
)
from .regularizers import (
    L1,
    L2,
    ActivityRegularization,
    AlphaDropout,
    Constraint,
    DropBlock2d,
    DropConnect,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    DropPath,
    ElasticNet,
    EmbeddingDropout,
    FeatureAlphaDropout,
    GaussianDropout,
    GaussianNoise,
    LockedDropout,
    MaxNorm,
    MCPrediction,
    NonNeg,
    StochasticModule,
    UnitNorm,
    VanillaDropout,
    activation_regularization,
    activity_penalty,
    alpha_dropout,
    collect_activity_penalties,
    drop_block_2d,
    drop_block_gamma,
    drop_connect_weight,
    drop_path,
    drop_path_rates,
    dropout,
    dropout1d,
    dropout2d,
    dropout3d,
    elastic_net_penalty,
    embedding_dropout_weight,
    feature_alpha_dropout,
    gaussian_dropout,
    gaussian_noise,
    keep_mask,
    l1_penalty,
    l2_penalty,
    locked_dropout,
    mc_mode,
    mc_predict,
    param_groups,
    predictive_entropy,
    split_parameters,
    temporal_activation_regularization,
    vanilla_dropout,
)

_legacy_paths.install()

__all__ = [
    "__version__",
    # regularizers: the dropout family
    "StochasticModule",
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
    # structured and weight regularizers
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
    # MC dropout
    "MCPrediction",
    "mc_mode",
    "mc_predict",
    "predictive_entropy",
    # penalties, activity regularization, constraints
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
    # the engine
    "fit",
    "evaluate",
    "History",
    "TrainState",
    "Callback",
    "LambdaCallback",
    "EpochTable",
    "ApplyConstraint",
    "EarlyStopping",
    "Checkpoint",
    # regularization schedules
    "RegularizationSchedule",
    "Schedule",
    "ConstantSchedule",
    "LinearWarmup",
    "StepSchedule",
    "CosineSchedule",
    "CurriculumDropout",
    "DropBlockRamp",
    "get_loss",
    "seed_everything",
    "make_generator",
    "resolve_device",
]

#: Names that lived at the top before they got namespaces of their own; each
#: still imports from ``reglab`` (loaded on first use: sweeps pull in
#: matplotlib and the experiment catalogue, which ``import reglab`` must not).
ELSEWHERE: dict[str, str] = {
    "BatchIterator": "reglab.data",
    "load_fashion_mnist": "reglab.data",
    "synthetic_linear": "reglab.data",
    "check_dropout": "reglab.conformance",
    "check_penalty": "reglab.conformance",
    "ConformanceReport": "reglab.conformance",
    "run_sweep": "reglab.sweeps",
    "resume_sweep": "reglab.sweeps",
    "SweepResult": "reglab.sweeps",
    "SweepSpec": "reglab.sweeps",
    "RunDir": "reglab.runs",
    "ReglabError": "reglab.core.errors",
    "InvalidArgumentError": "reglab.core.errors",
    "ConfigError": "reglab.core.errors",
    "DataError": "reglab.core.errors",
    "DataNotFoundError": "reglab.core.errors",
    "CorruptDataError": "reglab.core.errors",
    "ChecksumError": "reglab.core.errors",
    "DivergenceError": "reglab.core.errors",
}


def __getattr__(name: str) -> Any:
    if name in ELSEWHERE:
        return getattr(importlib.import_module(ELSEWHERE[name]), name)
    if f"reglab.{name}" in _legacy_paths.MOVED:  # an old module path, e.g. reglab.trainer
        return importlib.import_module(f"reglab.{name}")
    raise AttributeError(f"module 'reglab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(ELSEWHERE))
