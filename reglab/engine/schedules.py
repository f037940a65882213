"""Regularization schedules: a regularizer's strength as a function of training progress.

A schedule maps progress ``t`` (completed steps or epochs, from 0) and the
run's length ``total`` (in the same unit) to a strength, as a pure function:
``schedule(t, total) -> float``. :class:`RegularizationSchedule` is the
:func:`reglab.fit` callback that sets the modules' strength attribute (``p``
for reglab's and torch's dropout family, ``std`` for
:class:`~reglab.regularizers.GaussianNoise`, ``drop_prob`` for timm's layers)
from a schedule before every step or epoch, and records the value in force as
a column of each epoch's row (so ``metrics.csv`` has it).

The schedules (closed forms; ``u = min(t, total) / total``):

==========================  ==========================================================
:class:`ConstantSchedule`           ``value``
:class:`LinearWarmup`       ``start + (final - start) * min(t / warmup, 1)``
:class:`StepSchedule`       ``values[i]`` where ``i`` counts the milestones ``<= t``
:class:`CosineSchedule`     ``start + (end - start) * (1 - cos(pi * u)) / 2``
:class:`CurriculumDropout`  ``p_final * (1 - exp(-gamma * t))`` (Morerio et al., 2017,
                            "Curriculum Dropout": the retain probability
                            ``theta(t) = (1 - theta_bar) exp(-gamma t) + theta_bar``
                            falls from 1 to ``theta_bar = 1 - p_final``)
:class:`DropBlockRamp`      ``final * u``: DropBlock's linear ramp of the drop rate from
                            0 to its target over training (Ghiasi et al., 2018, sec. 3)
==========================  ==========================================================

Per-depth drop path (a strength that grows with depth rather than time) is
:func:`reglab.regularizers.drop_path_rates`; combine it with a schedule through
``scales=``: each module's value is its scale times the schedule's value.

Timing. With ``every="step"`` the value for step ``k`` (0-based, counted over
the whole run) is ``schedule(k, total_steps)``; with ``every="epoch"`` the
value for epoch ``e`` (1-based) is ``schedule(e - 1, epochs)``. A row's column
holds the value the epoch's last step used.
"""

from __future__ import annotations

import bisect
import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..core.checks import check_choice, check_float, check_int, check_probability, invalid_argument
from ..core.errors import ConfigError
from ..regularizers.base import StochasticModule
from ..regularizers.mc_prediction import DROPOUT_MODULES
from .callbacks import Callback
from .state import TrainState

__all__ = [
    "Schedule",
    "ConstantSchedule",
    "LinearWarmup",
    "StepSchedule",
    "CosineSchedule",
    "CurriculumDropout",
    "DropBlockRamp",
    "RegularizationSchedule",
    "check_strength",
]


class Schedule:
    """Base class: ``schedule(t, total) -> value``, pure, with the bounds of its values.

    Subclasses implement :meth:`compute` and :meth:`bounds`, and override
    :meth:`needs_total` when the value depends on the run's length.
    """

    def compute(self, t: int, total: int | None) -> float:
        """The value at ``t`` (already checked: an integer >= 0; ``total`` >= 1, or None
        when the run's length is unknown and :meth:`needs_total` is False)."""
        raise NotImplementedError

    def needs_total(self) -> bool:
        """Whether the value depends on the run's length ``total``."""
        return False

    def bounds(self) -> tuple[float, float]:
        """The smallest and largest value the schedule takes, for any ``t`` and ``total``."""
        raise NotImplementedError

    def __call__(self, t: int, total: int | None = None) -> float:
        t = check_int("t", t, low=0)
        if total is not None:
            total = check_int("total", total, low=1)
        elif self.needs_total():
            raise invalid_argument("total", f"the run's length (an integer >= 1) for {self!r}", total)
        low, high = self.bounds()
        # Clamped so that rounding never leaves the declared range (p = 1.0000000000000002).
        return min(max(self.compute(t, total), low), high)


def _known(total: int | None) -> int:
    assert total is not None  # __call__ refuses a missing total where needs_total()
    return total


def _progress(t: int, total: int | None) -> float:
    return min(t, _known(total)) / _known(total)


def _finite(name: str, value: Any) -> float:
    return check_float(name, value)


@dataclass(frozen=True)
class ConstantSchedule(Schedule):
    """The same value throughout: ``value``."""

    value: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _finite("value", self.value))

    def compute(self, t: int, total: int | None) -> float:
        return self.value

    def bounds(self) -> tuple[float, float]:
        return self.value, self.value


@dataclass(frozen=True)
class LinearWarmup(Schedule):
    """From ``start`` to ``final`` linearly over the first ``warmup`` units, then ``final``.

    Args:
        final: the value after the warm-up.
        warmup: length of the ramp in steps or epochs, ``>= 0`` (0: ``final`` from the start).
        start: the value at ``t = 0``.
    """

    final: float
    warmup: int
    start: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "final", _finite("final", self.final))
        object.__setattr__(self, "warmup", check_int("warmup", self.warmup, low=0))
        object.__setattr__(self, "start", _finite("start", self.start))

    def compute(self, t: int, total: int | None) -> float:
        if t >= self.warmup:
            return self.final
        return self.start + (self.final - self.start) * t / self.warmup

    def bounds(self) -> tuple[float, float]:
        return min(self.start, self.final), max(self.start, self.final)


@dataclass(frozen=True)
class StepSchedule(Schedule):
    """Piecewise constant: ``values[0]`` before ``milestones[0]``, ``values[i]`` from ``milestones[i-1]`` on.

    ``StepSchedule(values=(0.1, 0.3, 0.5), milestones=(10, 20))``: 0.1 for
    ``t < 10``, 0.3 for ``10 <= t < 20``, 0.5 afterwards.

    Args:
        values: one more value than milestones.
        milestones: strictly increasing integers ``>= 1``.
    """

    values: tuple[float, ...]
    milestones: tuple[int, ...]

    def __post_init__(self) -> None:
        values, milestones = self.values, self.milestones
        if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Iterable):
            raise invalid_argument("milestones", "a sequence of strictly increasing integers >= 1", milestones)
        ms = tuple(check_int("milestones", m, low=1) for m in milestones)
        if any(b <= a for a, b in zip(ms, ms[1:])):
            raise invalid_argument("milestones", "a sequence of strictly increasing integers >= 1", milestones)
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise invalid_argument("values", f"a sequence of {len(ms) + 1} floats (one more than milestones)", values)
        vs = tuple(_finite("values", v) for v in values)
        if len(vs) != len(ms) + 1:
            raise invalid_argument("values", f"a sequence of {len(ms) + 1} floats (one more than milestones)", values)
        object.__setattr__(self, "values", vs)
        object.__setattr__(self, "milestones", ms)

    def compute(self, t: int, total: int | None) -> float:
        return self.values[bisect.bisect_right(self.milestones, t)]

    def bounds(self) -> tuple[float, float]:
        return min(self.values), max(self.values)


@dataclass(frozen=True)
class CosineSchedule(Schedule):
    """Half a cosine from ``start`` (at ``t = 0``) to ``end`` (at ``t = total``), then ``end``.

    ``start + (end - start) * (1 - cos(pi * min(t, total) / total)) / 2``.
    """

    start: float
    end: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _finite("start", self.start))
        object.__setattr__(self, "end", _finite("end", self.end))

    def needs_total(self) -> bool:
        return True

    def compute(self, t: int, total: int | None) -> float:
        return self.start + (self.end - self.start) * (1.0 - math.cos(math.pi * _progress(t, total))) / 2.0

    def bounds(self) -> tuple[float, float]:
        return min(self.start, self.end), max(self.start, self.end)


@dataclass(frozen=True)
class CurriculumDropout(Schedule):
    """Curriculum dropout (Morerio et al., 2017): ``p_final * (1 - exp(-gamma * t))``.

    The drop rate starts at 0 and rises towards ``p_final``: easy examples
    (little noise) first.

    Args:
        p_final: the limit of the drop probability, in ``[0, 1]``.
        gamma: the rate per step or epoch, ``> 0``; None: ``10 / total``, so
            that the rate is within ``e**-10`` of ``p_final`` at the end
            (reglab's default; the paper's MNIST setting is ``gamma = 1e-3``
            per iteration).
    """

    p_final: float
    gamma: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "p_final", check_probability("p_final", self.p_final))
        if self.gamma is not None:
            object.__setattr__(self, "gamma", check_float("gamma", self.gamma, low=0.0, low_open=True))

    def needs_total(self) -> bool:
        return self.gamma is None

    def compute(self, t: int, total: int | None) -> float:
        gamma = self.gamma if self.gamma is not None else 10.0 / _known(total)
        return self.p_final * -math.expm1(-gamma * t)

    def bounds(self) -> tuple[float, float]:
        return 0.0, self.p_final


@dataclass(frozen=True)
class DropBlockRamp(Schedule):
    """DropBlock's schedule (Ghiasi et al., 2018): the drop rate rises linearly from 0
    to ``final`` over the whole run, ``final * min(t, total) / total``.

    The paper decreases the keep probability linearly from 1 to its target, which
    is this ramp of the drop probability.
    """

    final: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "final", _finite("final", self.final))

    def needs_total(self) -> bool:
        return True

    def compute(self, t: int, total: int | None) -> float:
        return self.final * _progress(t, total)

    def bounds(self) -> tuple[float, float]:
        return min(0.0, self.final), max(0.0, self.final)


_PROBABILITY_ATTRIBUTES = ("p", "drop_prob", "drop_rate", "rate")
_SCALE_ATTRIBUTES = ("std", "sigma", "stddev")


def check_strength(module: nn.Module, attribute: str, value: Any) -> float:
    """Validate ``value`` for ``module.<attribute>`` with the checks the module's own
    constructor applies; return it as a float.

    A drop probability (``p``, ``drop_prob``, ``drop_rate``, ``rate``) must be in
    ``[0, 1]`` (``[0, 1)`` for modules with ``allow_p_one = False``, such as
    Gaussian dropout); a noise scale (``std``, ``sigma``, ``stddev``) ``>= 0``;
    anything else finite.
    """
    if attribute in _PROBABILITY_ATTRIBUTES:
        return check_probability(attribute, value, allow_one=bool(getattr(module, "allow_p_one", True)))
    if attribute in _SCALE_ATTRIBUTES:
        return check_float(attribute, value, low=0.0)
    return check_float(attribute, value)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _regularizer_modules(model: nn.Module, attribute: str) -> list[nn.Module]:
    return [
        m
        for m in model.modules()
        if isinstance(m, (StochasticModule, *DROPOUT_MODULES)) and _is_number(getattr(m, attribute, None))
    ]


class RegularizationSchedule(Callback):
    """A :func:`reglab.fit` callback that sets regularizer modules' strength from a schedule.

    ``fit(..., callbacks=[RegularizationSchedule(model, CurriculumDropout(0.5), every="step")])``
    raises every dropout module's ``p`` from 0 towards 0.5 over the run.

    Args:
        modules: an ``nn.Module`` (its regularizer submodules that have
            ``attribute``: reglab's :class:`~reglab.regularizers.StochasticModule`
            and torch's dropout modules; the module itself if it is one) or a
            sequence of modules (all of them; each must have ``attribute``).
        schedule: a :class:`Schedule`.
        every: ``"step"`` (after every optimizer step) or ``"epoch"``.
        attribute: the strength attribute: ``"p"`` (default), ``"std"``, ``"drop_prob"``...
        scales: one factor per module (module ``i`` gets ``scales[i] * value``),
            e.g. :func:`~reglab.regularizers.drop_path_rates` ``(1.0, depth)``
            for drop path rising with depth; None: 1 for every module.
        total: the run's length in steps (``every="step"``) or epochs; None
            takes it from ``fit`` (``epochs`` times the batches per epoch).
        name: the column of the epoch rows (default: ``attribute``).

    The value is checked against every module's range (see
    :func:`check_strength`) for the schedule's whole range at construction.
    The schedule's position and length persist across ``fit`` calls (that is
    what resuming needs; :meth:`state_dict` / :meth:`load_state_dict` carry
    them); :meth:`reset` starts it over.
    """

    def __init__(
        self,
        modules: nn.Module | Sequence[nn.Module],
        schedule: Schedule,
        *,
        every: str = "step",
        attribute: str = "p",
        scales: Sequence[float] | None = None,
        total: int | None = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(schedule, Schedule):
            raise invalid_argument("schedule", "a reglab Schedule such as LinearWarmup(0.5, warmup=100)", schedule)
        self.schedule = schedule
        self.every = check_choice("every", every, ("step", "epoch"))
        if not isinstance(attribute, str) or not attribute.isidentifier():
            raise invalid_argument("attribute", "an attribute name such as 'p' or 'std'", attribute)
        self.attribute = attribute
        self.modules = self._collect(modules, attribute)
        if scales is None:
            self.scales = [1.0] * len(self.modules)
        else:
            expected = f"a sequence of {len(self.modules)} floats >= 0 (one per module)"
            if isinstance(scales, (str, bytes)) or not isinstance(scales, Iterable):
                raise invalid_argument("scales", expected, scales)
            self.scales = [check_float("scales", s, low=0.0) for s in scales]
            if len(self.scales) != len(self.modules):
                raise invalid_argument("scales", expected, scales)
        self.total = check_int("total", total, low=1) if total is not None else None
        self.name = name if name is not None else attribute
        if not isinstance(self.name, str) or not self.name:
            raise invalid_argument("name", "a non-empty column name", name)
        low, high = schedule.bounds()
        for module, scale in zip(self.modules, self.scales):
            for bound in (low, high):
                check_strength(module, attribute, bound * scale)
        self.t = 0
        self.value: float | None = None
        self.last_used: float | None = None

    @staticmethod
    def _collect(modules: Any, attribute: str) -> list[nn.Module]:
        if isinstance(modules, nn.Module):
            found = _regularizer_modules(modules, attribute)
            if not found:
                raise invalid_argument(
                    "modules",
                    f"a model with regularizer modules that have a float `{attribute}`",
                    type(modules).__name__,
                )
            return found
        if isinstance(modules, (str, bytes)) or not isinstance(modules, Iterable):
            raise invalid_argument("modules", "an nn.Module or a sequence of modules", modules)
        found = list(modules)
        if not found:
            raise invalid_argument("modules", "an nn.Module or a non-empty sequence of modules", modules)
        for m in found:
            if not isinstance(m, nn.Module) or not _is_number(getattr(m, attribute, None)):
                raise invalid_argument("modules", f"modules that have a number attribute `{attribute}`", m)
        return found

    # -- the schedule itself, independent of any loop -------------------------------

    def value_at(self, t: int) -> float:
        """The schedule's value for unit ``t`` (0-based) of this run."""
        return self.schedule(t, self.total)

    def apply(self, t: int) -> float:
        """Set every module's strength for unit ``t``; return the schedule's value."""
        value = self.value_at(t)
        for module, scale in zip(self.modules, self.scales):
            setattr(module, self.attribute, check_strength(module, self.attribute, value * scale))
        self.t, self.value = t, value
        return value

    def start(self, total: int | None) -> None:
        """Fix the run's length (unless already known) and set the strength for the current unit."""
        if self.total is None:
            if total is None and self.schedule.needs_total():
                raise ConfigError(
                    f"{self.schedule!r} needs the run's length in {self.every}s, and fit cannot tell "
                    f"(the training batches have no len()): pass total= to RegularizationSchedule"
                )
            self.total = total
        self.apply(self.t)

    def reset(self) -> None:
        """Start the schedule over (position 0, length from the next fit)."""
        self.t, self.value, self.last_used = 0, None, None

    # -- reglab.fit hooks ---------------------------------------------------------------

    def on_fit_start(self, state: TrainState) -> None:
        if self.every == "epoch":
            total: int | None = state.epochs
        else:
            total = state.epochs * state.steps_per_epoch if state.steps_per_epoch is not None else None
        self.start(total)

    def on_epoch_start(self, state: TrainState) -> None:
        if self.every == "epoch":
            self.apply(self.t)

    def on_step_end(self, state: TrainState) -> None:
        if self.every == "step":
            self.last_used = self.value
            self.apply(self.t + 1)

    def epoch_metrics(self, state: TrainState) -> dict[str, float]:
        used = self.value if self.every == "epoch" else self.last_used
        return {self.name: used if used is not None else math.nan}

    def on_epoch_end(self, state: TrainState, row: dict[str, float]) -> None:
        if self.every == "epoch":
            self.last_used = self.value
            self.t += 1

    # -- checkpoints ------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The position in the schedule and the run's length, for an exact resume."""
        return {"t": self.t, "total": self.total, "value": self.value, "last_used": self.last_used}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output and set the modules' strength for that position."""
        self.t = check_int("t", state["t"], low=0)
        self.total = state["total"]
        self.last_used = state.get("last_used")
        if self.total is not None or not self.schedule.needs_total():
            self.apply(self.t)

    def __repr__(self) -> str:
        return (
            f"RegularizationSchedule({self.schedule!r}, every={self.every!r}, attribute={self.attribute!r}, "
            f"modules={len(self.modules)})"
        )
