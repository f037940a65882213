"""Hypothesis fuzzing of every public regularizer's arguments.

Each name in ``reglab.regularizers.__all__`` has a valid call below (the table
must cover them all, so a new regularizer cannot skip this file). Hypothesis
replaces any subset of its arguments (and a module's input) by junk: wrong
types, bools, NaN and infinities, out-of-range numbers, integer and bool
tensors, tensors of the wrong shape, strings, None, modules. Whatever it draws,
the call returns a result or raises reglab's one argument sentence
(``InvalidArgumentError``), never another exception type.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import reglab.regularizers as R
from reglab.core.errors import InvalidArgumentError


def _junk() -> list[Any]:
    return [
        None,
        -1,
        0,
        1,
        3,
        10**30,
        -0.5,
        0.0,
        0.5,
        1.0,
        1.5,
        math.nan,
        math.inf,
        -math.inf,
        True,
        False,
        "x",
        "",
        [],
        [1, 2],
        (1,),
        (2, 3),
        {},
        object(),
        torch.tensor(0.5),
        torch.zeros(3, dtype=torch.int64),
        torch.zeros(2, 3, dtype=torch.bool),
        torch.zeros(2, 3),
        torch.zeros(0, 3),
        torch.zeros(2, 3, 4, 4, dtype=torch.float64),
        torch.randn(5, 2, 3),
        torch.Generator(),
        nn.Linear(3, 2),
    ]


JUNK = st.sampled_from(_junk())


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), R.Dropout(0.5), nn.Linear(4, 2))


def _x(*shape: int) -> Callable[[], torch.Tensor]:
    return lambda: torch.randn(*shape)


# name -> (valid arguments as factories, the valid input of a Module's forward or None)
Factory = Callable[[], Any]
CALLS: dict[str, tuple[dict[str, Factory], Factory | None]] = {
    "keep_mask": ({"shape": lambda: (4, 8), "p": lambda: 0.5, "generator": lambda: None}, None),
    "dropout": (
        {
            "x": _x(4, 8),
            "p": lambda: 0.5,
            "training": lambda: True,
            "inplace": lambda: False,
            "noise_shape": lambda: None,
        },
        None,
    ),
    "Dropout": ({"p": lambda: 0.5, "inplace": lambda: False, "noise_shape": lambda: None}, _x(4, 8)),
    "vanilla_dropout": ({"x": _x(4, 8), "p": lambda: 0.5, "training": lambda: True, "inplace": lambda: False}, None),
    "VanillaDropout": ({"p": lambda: 0.5, "inplace": lambda: False}, _x(4, 8)),
    "dropout1d": ({"x": _x(2, 3, 5), "p": lambda: 0.5, "training": lambda: True, "inplace": lambda: False}, None),
    "dropout2d": ({"x": _x(2, 3, 4, 4), "p": lambda: 0.5, "training": lambda: True, "inplace": lambda: False}, None),
    "dropout3d": ({"x": _x(2, 3, 2, 2, 2), "p": lambda: 0.5, "training": lambda: True}, None),
    "Dropout1d": ({"p": lambda: 0.5, "inplace": lambda: False}, _x(2, 3, 5)),
    "Dropout2d": ({"p": lambda: 0.5, "inplace": lambda: False}, _x(2, 3, 4, 4)),
    "Dropout3d": ({"p": lambda: 0.5}, _x(2, 3, 2, 2, 2)),
    "locked_dropout": (
        {"x": _x(5, 2, 3), "p": lambda: 0.5, "training": lambda: True, "batch_first": lambda: False},
        None,
    ),
    "LockedDropout": ({"p": lambda: 0.5, "batch_first": lambda: True}, _x(2, 5, 3)),
    "gaussian_dropout": ({"x": _x(4, 8), "p": lambda: 0.5, "training": lambda: True}, None),
    "GaussianDropout": ({"p": lambda: 0.5}, _x(4, 8)),
    "gaussian_noise": ({"x": _x(4, 8), "std": lambda: 0.1, "training": lambda: True}, None),
    "GaussianNoise": ({"std": lambda: 0.1}, _x(4, 8)),
    "alpha_dropout": ({"x": _x(4, 8), "p": lambda: 0.5, "training": lambda: True, "inplace": lambda: False}, None),
    "AlphaDropout": ({"p": lambda: 0.5, "inplace": lambda: False}, _x(4, 8)),
    "feature_alpha_dropout": ({"x": _x(2, 3, 4), "p": lambda: 0.5, "training": lambda: True}, None),
    "FeatureAlphaDropout": ({"p": lambda: 0.5}, _x(2, 3, 4)),
    "drop_path": ({"x": _x(4, 3), "p": lambda: 0.2, "training": lambda: True, "scale_by_keep": lambda: True}, None),
    "DropPath": ({"p": lambda: 0.2, "scale_by_keep": lambda: True}, _x(4, 3)),
    "drop_path_rates": ({"rate": lambda: 0.1, "depths": lambda: (2, 3), "per_stage": lambda: False}, None),
    "drop_block_2d": (
        {
            "x": _x(2, 3, 8, 8),
            "p": lambda: 0.1,
            "training": lambda: True,
            "block_size": lambda: 3,
            "gamma_scale": lambda: 1.0,
            "batchwise": lambda: False,
            "with_noise": lambda: False,
        },
        None,
    ),
    "DropBlock2d": ({"p": lambda: 0.1, "block_size": lambda: 3, "gamma_scale": lambda: 1.0}, _x(2, 3, 8, 8)),
    "drop_block_gamma": ({"p": lambda: 0.1, "block_size": lambda: 3, "height": lambda: 8, "width": lambda: 8}, None),
    "drop_connect_weight": ({"weight": _x(4, 3), "p": lambda: 0.5}, None),
    # DropConnect's forward hands its input to the wrapped module, whose own checks apply: only
    # the wrapper's arguments are fuzzed.
    "DropConnect": (
        {"module": lambda: nn.Linear(3, 4), "p": lambda: 0.5, "mc": lambda: False, "drop_bias": lambda: False},
        None,
    ),
    "embedding_dropout_weight": ({"weight": _x(10, 4), "p": lambda: 0.1}, None),
    "EmbeddingDropout": ({"embedding": lambda: nn.Embedding(10, 4), "p": lambda: 0.1}, lambda: torch.tensor([[1, 2]])),
    "MCPrediction": ({"mean": _x(2), "std": _x(2), "samples": _x(3, 2)}, None),
    "mc_predict": (
        {"model": _model, "x": _x(4, 3), "samples": lambda: 3, "batch_size": lambda: None, "transform": lambda: None},
        None,
    ),
    "predictive_entropy": ({"probs": lambda: torch.softmax(torch.randn(4, 3), -1)}, None),
    "l1_penalty": ({"params_or_model": _model, "lam": lambda: 0.1, "include_bias": lambda: False}, None),
    "l2_penalty": ({"params_or_model": _model, "lam": lambda: 0.1, "include_norm": lambda: False}, None),
    "elastic_net_penalty": ({"params_or_model": _model, "lam": lambda: 0.1, "l1_ratio": lambda: 0.5}, None),
    "L1": ({"lam": lambda: 0.1, "include_bias": lambda: False}, _model),
    "L2": ({"lam": lambda: 0.1, "include_norm": lambda: False}, _model),
    "ElasticNet": ({"lam": lambda: 0.1, "l1_ratio": lambda: 0.5}, _model),
    "param_groups": ({"model": _model, "weight_decay": lambda: 0.1, "no_decay": lambda: ("bias", "norm")}, None),
    "split_parameters": ({"model": _model, "no_decay": lambda: ("bias",)}, None),
    "activity_penalty": ({"x": _x(4, 3), "l1": lambda: 0.1, "l2": lambda: 0.1}, None),
    "ActivityRegularization": ({"l1": lambda: 0.1, "l2": lambda: 0.1}, _x(4, 3)),
    "collect_activity_penalties": ({"model": _model}, None),
    "activation_regularization": ({"x": _x(2, 5, 3), "alpha": lambda: 2.0}, None),
    "temporal_activation_regularization": ({"h": _x(2, 5, 3), "beta": lambda: 1.0, "time_dim": lambda: 1}, None),
    "MaxNorm": ({"max_value": lambda: 3.0, "axis": lambda: None}, _x(4, 3)),
    "UnitNorm": ({"axis": lambda: 0}, _x(4, 3)),
    "NonNeg": ({}, _x(4, 3)),
    "DropoutBase": ({"p": lambda: 0.5, "inplace": lambda: False}, None),
}
# Base classes with nothing to call: StochasticModule (a marker), Constraint (abstract; its
# subclasses MaxNorm, UnitNorm and NonNeg are fuzzed above).
NOT_CALLABLE = {"StochasticModule", "Constraint", "mc_mode"}


def test_the_table_covers_every_public_regularizer():
    assert set(CALLS) | NOT_CALLABLE == set(R.__all__)


def test_mc_mode_refuses_what_is_not_a_module():
    for junk in _junk():
        if isinstance(junk, nn.Module):
            continue
        with (
            pytest.raises(InvalidArgumentError, match="Invalid value received for argument `model`"),
            R.mc_mode(junk),
        ):
            pass


def _call(name: str, junk: dict[str, Any], forward_junk: Any, replace_input: bool) -> Any:
    arguments, module_input = CALLS[name]
    kwargs = {k: junk.get(k, make) if k in junk else make() for k, make in arguments.items()}
    target = getattr(R, name)
    result = target(**kwargs)
    if module_input is not None:
        return result(forward_junk if replace_input else module_input())
    return result


@pytest.mark.parametrize("name", sorted(CALLS))
def test_any_argument_gives_a_result_or_the_one_sentence(name):
    arguments, module_input = CALLS[name]

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        junk=st.dictionaries(st.sampled_from(sorted(arguments) or ["_"]), JUNK, max_size=len(arguments)),
        forward_junk=JUNK,
        replace_input=st.booleans() if module_input is not None else st.just(False),
    )
    def check(junk: dict[str, Any], forward_junk: Any, replace_input: bool) -> None:
        junk = {k: v for k, v in junk.items() if k in arguments}
        try:
            _call(name, junk, forward_junk, replace_input)
        except InvalidArgumentError as exc:
            assert str(exc).startswith("Invalid value received for argument `"), str(exc)
            assert "\n" not in str(exc)
        except Exception as exc:  # any other type is a bug: report what was passed
            shown = {k: type(v).__name__ if not isinstance(v, (int, float, str)) else v for k, v in junk.items()}
            raise AssertionError(
                f"{name}({shown}){' called on ' + repr(type(forward_junk).__name__) if replace_input else ''} "
                f"raised {type(exc).__name__}: {exc}"
            ) from exc

    check()
