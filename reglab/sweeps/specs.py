"""The sweep specs of reglab's experiments (see :class:`reglab.sweeps.SweepSpec`).

An experiment without an entry here is swept over its plain config fields,
selecting on the loss. Add an entry to give it aliases, a metric to select on,
log-scaled knobs or a vectorized trainer.
"""

from __future__ import annotations

from .spec import Knob, SweepSpec, register_spec
from .vectorized_mlp import DropoutMLPVectorized

register_spec(SweepSpec("dropout", metric="acc", mode="max", log_knobs=("lr",), vectorized=DropoutMLPVectorized()))
register_spec(SweepSpec("dropout-scratch", metric="acc", mode="max", log_knobs=("lr",)))

# weight-decay (seed 004): one lambda per trial, the optimizer's weight_decay version.
# The lead adds its vectorized trainer (16 lambdas as one stack) when the experiment lands.
register_spec(
    SweepSpec(
        "weight-decay",
        knobs=(
            Knob("lambda", 0.0, lambda value: {"lambdas": (value,), "versions": ("optimizer",)},
                 help="the weight-decay strength"),
        ),
        metric="loss",
        mode="min",
        log_knobs=("lambda", "lr"),
    )
)
