"""reglab's training-time pieces as callbacks for a ``lightning.Trainer``.

``Trainer(callbacks=[...])`` with:

- :class:`ConstraintCallback`: a weight constraint (``MaxNorm(3.0)``...)
  applied after every optimizer step (``on_train_batch_end``, when the global
  step has advanced: with gradient accumulation, after the steps only);
- :class:`PenaltyCallback`: a penalty (``L2(1e-4)``, ``L1``, activity
  penalties...) added to the loss ``training_step`` returns;
- :class:`ScheduleCallback`: a :class:`~reglab.engine.schedules.RegularizationSchedule`
  driven by the trainer's optimizer steps or epochs, its value logged each epoch;
- :class:`MCDropoutCallback`: MC-dropout prediction in ``trainer.predict``.

How the penalty reaches the loss. A Lightning callback cannot change the loss:
``on_before_backward`` receives it but its return value is ignored, and a
second ``backward`` of the penalty in ``on_after_backward`` would bypass AMP's
loss scaling, gradient accumulation's division and DDP's gradient reduction.
The supported place for an extra term is ``training_step`` itself, so for the
duration of ``fit`` the callback wraps the module's ``training_step`` (an
instance attribute over the class's method, removed at ``teardown``): the
returned loss (a tensor, or a dict's ``"loss"``) becomes ``loss +
penalty(module)``, computed inside the step, hence under autocast, divided by
``accumulate_grad_batches`` and reduced by DDP like the loss. This needs
automatic optimization; with manual optimization add the penalty where you
call ``manual_backward``.

Why MC prediction needs a callback. Lightning's predict loop puts the module in
eval mode (``on_predict_model_eval``) before ``on_predict_start``, which turns
dropout off. :class:`MCDropoutCallback` re-enables reglab's stochastic modules
and torch's dropout (exactly those of :func:`reglab.mc_mode`; BatchNorm stays
in eval) from ``on_predict_start`` to ``on_predict_end``; with ``samples`` it
also runs ``predict_step`` that many times and returns an
:class:`~reglab.regularizers.MCPrediction` (mean, std, samples) per batch.

Needs the ``lightning`` package (``pip install 'reglab[lightning]'``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from ..core.checks import check_bool, check_int, invalid_argument
from ..core.errors import ConfigError
from ..engine.callbacks import ApplyConstraint
from ..engine.schedules import RegularizationSchedule
from ..regularizers.constraints import Constraint
from ..regularizers.mc_prediction import MCPrediction, mc_mode

__all__ = ["ConstraintCallback", "PenaltyCallback", "ScheduleCallback", "MCDropoutCallback"]


def _wrap_method(module: nn.Module, name: str, wrapper: Callable[..., Any]) -> None:
    """Shadow ``module.<name>`` with ``wrapper`` (an instance attribute), refusing to wrap twice."""
    if name in vars(module):
        raise ConfigError(f"{type(module).__name__}.{name} is already wrapped (two reglab callbacks of the same kind?)")
    object.__setattr__(module, name, wrapper)


def _unwrap_method(module: nn.Module, name: str) -> None:
    vars(module).pop(name, None)


class ConstraintCallback(pl.Callback):
    """Apply a weight constraint after every optimizer step of a ``lightning.Trainer``.

    Args:
        constraint: a :class:`~reglab.regularizers.Constraint`, e.g. ``MaxNorm(3.0)``.
        params: the tensors to constrain; None: the LightningModule's weights
            (``dim >= 2``, outside normalisation layers).
        include_bias: also constrain the module's biases (with ``params=None``).
    """

    def __init__(
        self,
        constraint: Constraint,
        *,
        params: nn.Module | Iterable[torch.Tensor] | None = None,
        include_bias: bool = False,
    ) -> None:
        if not callable(constraint):
            raise invalid_argument("constraint", "a Constraint such as MaxNorm(3.0)", constraint)
        self.constraint = constraint
        self.params = params
        self.include_bias = check_bool("include_bias", include_bias)
        self.applier: ApplyConstraint | None = None
        self._last_step = -1

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage == "fit":
            target = pl_module if self.params is None else self.params
            self.applier = ApplyConstraint(target, self.constraint, include_bias=self.include_bias)
            self._last_step = trainer.global_step

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        # The global step counts optimizer steps: it advances only on batches that stepped.
        if self.applier is not None and trainer.global_step != self._last_step:
            self._last_step = trainer.global_step
            self.applier.apply()


class PenaltyCallback(pl.Callback):
    """Add ``penalty(module)`` to the loss the LightningModule's ``training_step`` returns.

    Args:
        penalty: a callable ``module -> 0-dim tensor``, e.g. ``reglab.L2(1e-4)``.
        log_name: the name under which the penalty is logged (epoch mean);
            None logs nothing.

    See the module notes for how the term reaches the loss.
    """

    def __init__(self, penalty: Callable[[nn.Module], torch.Tensor], *, log_name: str | None = "penalty") -> None:
        if not callable(penalty):
            raise invalid_argument("penalty", "a callable model -> tensor such as reglab.L2(1e-4)", penalty)
        if log_name is not None and (not isinstance(log_name, str) or not log_name):
            raise invalid_argument("log_name", "a non-empty name or None", log_name)
        self.penalty = penalty
        self.log_name = log_name

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage != "fit":
            return
        if not pl_module.automatic_optimization:
            raise ConfigError(
                "PenaltyCallback adds the penalty to the loss training_step returns, which manual optimization "
                "does not backpropagate: add penalty(self) to the loss you pass to manual_backward instead"
            )
        original = pl_module.training_step

        def training_step(*args: Any, **kwargs: Any) -> Any:
            out = original(*args, **kwargs)
            if out is None:  # Lightning skips the batch
                return out
            penalty = self.penalty(pl_module)
            if self.log_name is not None:
                pl_module.log(self.log_name, penalty.detach(), on_step=False, on_epoch=True)
            if isinstance(out, torch.Tensor):
                return out + penalty
            if isinstance(out, Mapping) and "loss" in out:
                return {**out, "loss": out["loss"] + penalty}
            raise TypeError(
                f"PenaltyCallback: training_step returned a {type(out).__name__}; expected the loss tensor "
                "or a dict with a 'loss' key"
            )

        _wrap_method(pl_module, "training_step", training_step)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage == "fit":
            _unwrap_method(pl_module, "training_step")


class ScheduleCallback(pl.Callback):
    """Drive a :class:`~reglab.engine.schedules.RegularizationSchedule` from a ``lightning.Trainer``.

    With ``every="step"`` the value for optimizer step ``k`` (the trainer's
    ``global_step``, so gradient accumulation and resumed runs count right) is
    set before the batches of that step, over ``trainer.estimated_stepping_batches``
    steps; with ``every="epoch"`` the value for epoch ``e`` is set before it,
    over ``max_epochs``. At each epoch's end the value the last step used is
    logged under the schedule's ``name`` (``trainer.callback_metrics``, the loggers).

    Args:
        schedule: the schedule callback, e.g.
            ``RegularizationSchedule(model, CurriculumDropout(0.5), every="step")``.
    """

    def __init__(self, schedule: RegularizationSchedule) -> None:
        if not isinstance(schedule, RegularizationSchedule):
            raise invalid_argument("schedule", "a reglab.RegularizationSchedule", schedule)
        self.schedule = schedule

    @property
    def state_key(self) -> str:
        return f"ScheduleCallback[{self.schedule.name}]"

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if self.schedule.every == "step":
            total = trainer.estimated_stepping_batches
        else:
            total = trainer.max_epochs if trainer.max_epochs not in (None, -1) else None
        known = isinstance(total, int) or (isinstance(total, float) and math.isfinite(total))
        self.schedule.start(int(total) if known else None)

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if self.schedule.every == "epoch":
            self.schedule.apply(trainer.current_epoch)

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if self.schedule.every == "step" and trainer.global_step != self.schedule.t:
            self.schedule.apply(trainer.global_step)
        self.schedule.last_used = self.schedule.value

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.schedule.last_used is not None:
            pl_module.log(self.schedule.name, float(self.schedule.last_used), on_step=False, on_epoch=True)

    def state_dict(self) -> dict[str, Any]:
        return self.schedule.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.schedule.load_state_dict(state_dict)


class MCDropoutCallback(pl.Callback):
    """MC-dropout prediction in ``trainer.predict``: the dropout modules stay random.

    Args:
        samples: None: ``predict_step`` runs once per batch with dropout on
            (sample by predicting again); an integer ``S >= 2``: it runs ``S``
            times per batch and the batch's prediction is an
            :class:`~reglab.regularizers.MCPrediction` of the ``S`` outputs.
        transform: applied to each output before averaging (e.g. ``lambda z: z.softmax(-1)``);
            only with ``samples``.

    Raises (at ``on_predict_start``):
        ReglabError: the module has no dropout with ``p > 0``.
    """

    def __init__(self, samples: int | None = None, *, transform: Callable[[Any], torch.Tensor] | None = None) -> None:
        if samples is not None:
            samples = check_int("samples", samples, low=2)
        if transform is not None and (samples is None or not callable(transform)):
            raise invalid_argument("transform", "a callable, given together with samples", transform)
        self.samples = samples
        self.transform = transform
        self._stack: contextlib.ExitStack | None = None

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        stack = contextlib.ExitStack()
        stack.enter_context(mc_mode(pl_module))
        self._stack = stack
        if self.samples is not None:
            original, samples, transform = pl_module.predict_step, self.samples, self.transform

            def predict_step(*args: Any, **kwargs: Any) -> MCPrediction:
                outs = [original(*args, **kwargs) for _ in range(samples)]
                stacked = torch.stack([transform(o) if transform is not None else o for o in outs])
                return MCPrediction(stacked.mean(0), stacked.std(0), stacked)

            _wrap_method(pl_module, "predict_step", predict_step)
            stack.callback(_unwrap_method, pl_module, "predict_step")

    def _restore(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        self._restore()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._restore()
