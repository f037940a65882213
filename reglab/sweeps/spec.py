"""What a sweep needs to know about an experiment: its knobs, metrics and trainers.

A :class:`SweepSpec` says, for one experiment,

- which *knobs* exist beyond its plain config fields (an alias maps one knob
  value to config overrides, e.g. weight-decay's ``lambda=3`` becomes
  ``lambdas=(3.0,), versions=("optimizer",)``);
- which summary keys hold the train/validation/test metrics
  (``"{split}_{metric}"`` by default, e.g. ``val_acc``), the metric selection
  ranks on and its direction (``max`` for accuracy, ``min`` for a loss);
- which knobs read best on a log axis (lambda-like ones);
- whether a vectorized trainer exists (``vectorized``, see
  :mod:`reglab.sweeps.vectorized`);
- how ``--select`` maps onto the experiment's settings when it has no
  ``val_fraction``/``kfold``/``fold`` (``select_overrides``, e.g. curve-fit
  draws ``val_size`` extra points instead of carving them out).

Any experiment without a registered spec gets :func:`default_spec`: its plain
config fields are the knobs and the metric is the loss, minimised. A new
experiment's spec is a few lines::

    register_spec(SweepSpec("l1-vs-l2", base={"seeds": 1}, log_knobs=("strength", "lr")))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._checks import check_choice

__all__ = ["Knob", "SweepSpec", "SPLITS", "register_spec", "get_spec", "default_spec"]

SPLITS = ("train", "val", "test")


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
        experiment: the registered experiment name.
        knobs: aliases beyond the plain config fields.
        metric: the metric name; summary keys are ``key_format`` of it.
        mode: ``"max"`` or ``"min"``: the better direction of ``metric``.
        key_format: how a split and a metric form a summary key.
        base: overrides applied to every trial (e.g. a single seed per run).
        log_knobs: knobs drawn on a log axis.
        vectorized: a :class:`~reglab.sweeps.vectorized.VectorizedTrainer`, or None.
        select_overrides: ``(selection, config) -> [overrides, ...]``: the trials'
            split overrides of one grid point (``config`` is its config without a
            split); it raises :class:`~reglab.errors.ConfigError` for a selection the
            experiment cannot do. None: the standard ``val_fraction``/``kfold`` settings.
        val_how: how the validation data is made, for the selection's ``reason``
            (``{value}`` is the selection's value); None: the standard wording.
    """

    experiment: str
    knobs: tuple[Knob, ...] = ()
    metric: str = "loss"
    mode: str = "min"
    key_format: str = "{split}_{metric}"
    base: Mapping[str, Any] = field(default_factory=dict)
    log_knobs: tuple[str, ...] = ()
    vectorized: Any = None
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

    def better(self, a: float, b: float) -> bool:
        """True when metric value ``a`` is strictly better than ``b``."""
        return a > b if self.mode == "max" else a < b


_SPECS: dict[str, SweepSpec] = {}


def register_spec(spec: SweepSpec) -> SweepSpec:
    """Register (or replace) the sweep spec of ``spec.experiment``."""
    _SPECS[spec.experiment] = spec
    return spec


def default_spec(experiment: str) -> SweepSpec:
    """The spec of an experiment whose knobs are plain config fields: loss, minimised."""
    return SweepSpec(experiment)


def get_spec(experiment: str) -> SweepSpec:
    """The registered spec of ``experiment``, else :func:`default_spec`."""
    _load_builtin_specs()
    return _SPECS.get(experiment) or default_spec(experiment)


_loaded = False


def _load_builtin_specs() -> None:
    # Imported on first use: the vectorized trainers pull in the experiments.
    global _loaded
    if not _loaded:
        _loaded = True
        from . import specs  # noqa: F401
