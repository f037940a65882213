"""What a sweep needs to know about an experiment, declared where the experiment
is registered: its knobs, metrics, selection mapping and stacked trainer.

An experiment passes ``sweep=SweepSpec(...)`` to
:func:`reglab.runs.experiment.register`; a :class:`SweepSpec` says

- which *knobs* exist beyond its plain config fields (an alias maps one knob
  value to config overrides, e.g. weight-decay's ``lambda=3`` becomes
  ``lambdas=(3.0,), versions=("optimizer",)``);
- which summary keys hold the train/validation/test metrics
  (``"{split}_{metric}"`` by default, e.g. ``val_acc``), the metric selection
  ranks on and its direction (``max`` for accuracy, ``min`` for a loss);
- which knobs read best on a log axis (lambda-like ones);
- whether a stacked trainer exists (``vectorized``, a :class:`VectorizedTrainer`
  that trains all variants of one architecture as one model);
- how ``--select`` maps onto the experiment's settings when it has no
  ``val_fraction``/``kfold``/``fold`` (``select_overrides``, e.g. curve-fit
  draws ``val_size`` extra points instead of carving them out).

An experiment without one is swept over its plain config fields and selects on
the loss, minimised. This module is data only: the generic sweep machinery in
:mod:`reglab.sweeps` reads it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from ..core.checks import check_choice

__all__ = ["Knob", "SweepSpec", "Selection", "VectorizedTrainer", "VariantOutcome", "SPLITS"]

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Selection:
    """How a sweep selects: ``kind`` is ``"val"`` (``value`` = the held-out
    fraction) or ``"kfold"`` (``value`` = K). Parsed by :func:`reglab.sweeps.parse_select`."""

    kind: str
    value: float | int

    def __str__(self) -> str:
        return f"{self.kind}={self.value}"


class VariantOutcome(dict[str, Any]):
    """``{"summary": {...}, "status": "complete" | "diverged", "error": str}`` of one variant."""


class VectorizedTrainer(Protocol):
    """Trains many configs of one experiment as one stacked model.

    Each variant keeps its own hyperparameters, initialisation, random masks and
    data order, so its numbers equal a solo run's to float tolerance.
    """

    def group_key(self, config: Any) -> Hashable:
        """Configs with equal keys can be trained as one stack."""

    def architecture_key(self, config: Any) -> Hashable:
        """Configs with equal keys share an architecture (``auto`` then picks this backend)."""

    def train(self, configs: Sequence[Any], device: torch.device) -> list[VariantOutcome]:
        """Train all ``configs`` as one stacked model; one outcome per config, in order."""


@dataclass(frozen=True)
class Knob:
    """A sweepable alias: a value of ``example``'s type mapped to config overrides.

    Attributes:
        name: the name used on the command line (``lambda``).
        example: a value of the knob's type; values are type-checked against it.
        overrides: ``value -> {field: value, ...}`` for the experiment's config.
        help: one line for listings.
    """

    name: str
    example: Any
    overrides: Callable[[Any], dict[str, Any]]
    help: str = ""


@dataclass(frozen=True)
class SweepSpec:
    """How to sweep one experiment.

    Attributes:
        knobs: aliases beyond the plain config fields.
        metric: the metric name; summary keys are ``key_format`` of it.
        mode: ``"max"`` or ``"min"``: the better direction of ``metric``.
        key_format: how a split and a metric form a summary key.
        base: overrides applied to every trial (e.g. a single seed per run).
        log_knobs: knobs drawn on a log axis.
        vectorized: a :class:`VectorizedTrainer`, or ``"module:attribute"`` naming
            a zero-argument callable that makes one (e.g. the trainer's class),
            imported on first use so that the trainer's module may import the
            experiment's; or None.
        select_overrides: ``(selection, config) -> [overrides, ...]``: the trials'
            split overrides of one grid point (``config`` is its config without a
            split); it raises :class:`~reglab.core.errors.ConfigError` for a selection the
            experiment cannot do. None: the standard ``val_fraction``/``kfold`` settings.
        val_how: how the validation data is made, for the selection's ``reason``
            (``{value}`` is the selection's value); None: the standard wording.
    """

    knobs: tuple[Knob, ...] = ()
    metric: str = "loss"
    mode: str = "min"
    key_format: str = "{split}_{metric}"
    base: Mapping[str, Any] = field(default_factory=dict)
    log_knobs: tuple[str, ...] = ()
    vectorized: VectorizedTrainer | str | None = None
    select_overrides: Callable[[Any, Any], list[dict[str, Any]]] | None = None
    val_how: str | None = None

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, ("max", "min"))

    def metric_key(self, split: str) -> str:
        """The summary key of ``metric`` on ``split`` (``train``, ``val`` or ``test``)."""
        return self.key_format.format(split=split, metric=self.metric)

    def knob(self, name: str) -> Knob | None:
        for k in self.knobs:
            if k.name == name:
                return k
        return None

    def vectorized_trainer(self) -> VectorizedTrainer | None:
        """The stacked trainer (made now when ``vectorized`` names one), or None."""
        if isinstance(self.vectorized, str):
            module_name, _, attribute = self.vectorized.partition(":")
            trainer: VectorizedTrainer = getattr(importlib.import_module(module_name), attribute)()
            return trainer
        return self.vectorized

    def better(self, a: float, b: float) -> bool:
        """True when metric value ``a`` is strictly better than ``b``."""
        return a > b if self.mode == "max" else a < b
