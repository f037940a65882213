"""The sweep specs of reglab's experiments (see :class:`reglab.sweeps.SweepSpec`).

An experiment without an entry here is swept over its plain config fields,
selecting on the loss. Add an entry to give it aliases, a metric to select on,
log-scaled knobs or a vectorized trainer.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .selection import Selection
from .spec import Knob, SweepSpec, register_spec
from .vectorized_mlp import DropoutMLPVectorized
from .vectorized_regression import WeightDecayVectorized

register_spec(SweepSpec("dropout", metric="acc", mode="max", log_knobs=("lr",), vectorized=DropoutMLPVectorized()))
register_spec(SweepSpec("dropout-scratch", metric="acc", mode="max", log_knobs=("lr",)))

# weight-decay (seed 004): one lambda per trial, the optimizer's weight_decay version, one seed
# per trial (the sweep's --seeds sets `seed`); all lambdas of a sweep train as one stack.
register_spec(
    SweepSpec(
        "weight-decay",
        knobs=(
            Knob("lambda", 0.0, lambda value: {"lambdas": (value,), "versions": ("optimizer",)},
                 help="the weight-decay strength"),
        ),
        metric="loss",
        mode="min",
        base={"seeds": 1},
        log_knobs=("lambda", "lr"),
        vectorized=WeightDecayVectorized(),
    )
)


def _curve_fit_select(selection: Selection, config: Any) -> list[dict[str, Any]]:
    """curve-fit draws its validation points like the test set (``val_size`` extra points with
    fresh noise on the same grid of [-1, 1]) instead of carving them out of the 20 training points:
    ``val=F`` means ``val_size = round(F * n_samples)``; K-fold has no meaning there."""
    if selection.kind != "val":
        raise ConfigError(
            "curve-fit has no K-fold setting: its validation points are drawn separately (val_size); "
            "use --select val=F for round(F * n_samples) validation points"
        )
    n_val = round(float(selection.value) * config.n_samples)
    if n_val < 2:
        raise ConfigError(
            f"--select val={selection.value:g} gives round({selection.value:g} * {config.n_samples}) = {n_val} "
            "curve-fit validation point(s); it needs at least 2: use a larger fraction"
        )
    return [{"val_size": n_val}]


# curve-fit (seed 001): one dropout net per trial (p = 0 is the plain net), one seed per trial.
register_spec(
    SweepSpec(
        "curve-fit",
        metric="loss",
        mode="min",
        base={"seeds": 1},
        log_knobs=("lr",),
        select_overrides=_curve_fit_select,
        val_how="round({value:g} * n_samples) extra validation points drawn like the test set",
    )
)

# l1-vs-l2 (on branch exp2a; harmless until it lands): `strength` is a plain field, the L1
# model's flat train_loss/test_loss/val_loss with seeds=1.
register_spec(SweepSpec("l1-vs-l2", metric="loss", mode="min", base={"seeds": 1}, log_knobs=("strength", "lr")))
