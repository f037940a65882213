"""The training engine: ``fit`` and ``evaluate``, the callbacks and the state they
see, early stopping, losses, seeding and devices.

Depends on :mod:`reglab.core` and, where it must, on :mod:`reglab.regularizers`
(the constraint callback applies a regularizer's constraint).

- :mod:`.loop`: :func:`fit`, :func:`evaluate`, :func:`train_epoch`;
- :mod:`.epochs`: :func:`run_epochs`, the bookkeeping ``fit`` shares with
  hand-written loops (finiteness of the loss and penalty, per-epoch rows,
  interrupts), :class:`EpochResult`, :class:`RunningMean`, :func:`tensor_module`;
- :mod:`.state`: :class:`History` (what ``fit`` returns), :class:`TrainState`
  (what callbacks see);
- :mod:`.callbacks`: the :class:`Callback` hooks, :class:`LambdaCallback`,
  :class:`EpochTable`, :class:`ApplyConstraint`, :class:`LivePlot`;
- :mod:`.history_plot`: the training-curve figure of ``History.plot()`` and
  ``LivePlot`` (imported on use: it loads matplotlib);
- :mod:`.display`: terminal or notebook, and the ``tqdm.auto`` progress bars;
- :mod:`.early_stopping`: :class:`EarlyStopping`;
- :mod:`.checkpoint`: :class:`Checkpoint` (save a ``fit`` every N epochs, resume it exactly);
- :mod:`.schedules`: the strength schedules (:class:`LinearWarmup`,
  :class:`CurriculumDropout`...) and the :class:`RegularizationSchedule` callback;
- :mod:`.losses`: :func:`get_loss` (cross-entropy with label smoothing, MSE);
- :mod:`.seeding`: :func:`seed_everything`, :func:`make_generator`,
  :func:`stream_seed`; :mod:`.devices`: :func:`resolve_device`.
"""

from .callbacks import ApplyConstraint, Callback, EpochTable, LambdaCallback, LivePlot
from .checkpoint import Checkpoint
from .devices import resolve_device
from .early_stopping import EarlyStopping
from .epochs import EpochResult, RunningMean, run_epochs, tensor_module
from .loop import evaluate, fit, train_epoch
from .losses import get_loss
from .schedules import (
    ConstantSchedule,
    CosineSchedule,
    CurriculumDropout,
    DropBlockRamp,
    LinearWarmup,
    RegularizationSchedule,
    Schedule,
    StepSchedule,
)
from .seeding import make_generator, seed_everything, stream_seed
from .state import History, TrainState

__all__ = [
    "fit",
    "evaluate",
    "train_epoch",
    "run_epochs",
    "EpochResult",
    "RunningMean",
    "tensor_module",
    "History",
    "TrainState",
    "Callback",
    "LambdaCallback",
    "EpochTable",
    "ApplyConstraint",
    "LivePlot",
    "EarlyStopping",
    "Checkpoint",
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
    "stream_seed",
    "resolve_device",
]
