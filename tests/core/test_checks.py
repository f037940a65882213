"""The one argument-error sentence, pinned by text."""

import math

import pytest
import torch

from reglab.core.checks import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_int_tuple,
    check_probability,
)
from reglab.core.errors import InvalidArgumentError


def test_sentence_is_pinned():
    with pytest.raises(InvalidArgumentError) as info:
        check_probability("p", 1.5)
    assert str(info.value) == (
        "Invalid value received for argument `p`. Expected a float between 0 and 1. Received: p=1.5"
    )


def test_probability_without_one_uses_half_open_range():
    assert check_probability("p", 0.999, allow_one=False) == 0.999
    with pytest.raises(InvalidArgumentError, match=r"Expected a float in \[0, 1\)\. Received: p=1"):
        check_probability("p", 1, allow_one=False)


@pytest.mark.parametrize("bad", [-0.1, 1.0000001, math.nan, math.inf, "0.5", None, True, torch.tensor(0.5)])
def test_probability_rejects(bad):
    with pytest.raises(InvalidArgumentError, match="argument `p`"):
        check_probability("p", bad)


@pytest.mark.parametrize("good", [0, 0.0, 1, 0.5, 1.0])
def test_probability_accepts_ints_and_floats(good):
    value = check_probability("p", good)
    assert value == float(good) and isinstance(value, float)


def test_error_is_a_value_error():
    assert issubclass(InvalidArgumentError, ValueError)


def test_int_rejects_bool_float_and_out_of_range():
    assert check_int("n", 3, low=0) == 3
    for bad in (True, 3.0, -1, "3"):
        with pytest.raises(InvalidArgumentError, match=r"argument `n`\. Expected an integer >= 0\."):
            check_int("n", bad, low=0)


def test_float_open_bounds_and_messages():
    assert check_float("lr", 0.1, low=0.0, low_open=True) == 0.1
    with pytest.raises(InvalidArgumentError, match=r"Expected a float > 0\. Received: lr=0"):
        check_float("lr", 0, low=0.0, low_open=True)


def test_bool_choice_and_int_tuple():
    assert check_bool("inplace", False) is False
    with pytest.raises(InvalidArgumentError, match=r"Expected True or False. Received: inplace=1"):
        check_bool("inplace", 1)
    with pytest.raises(InvalidArgumentError, match=r"Expected one of 'max', 'min'. Received: mode='avg'"):
        check_choice("mode", "avg", ["max", "min"])
    assert check_int_tuple("size", 3, length=2) == (3, 3)
    assert check_int_tuple("size", [2, 5], length=2) == (2, 5)
    for bad in ((1,), (0, 2), (2.0, 2), "2"):
        with pytest.raises(InvalidArgumentError, match="argument `size`"):
            check_int_tuple("size", bad, length=2)


def test_the_sentence_stays_on_one_line_whatever_the_value():
    from torch import nn

    from reglab.core.checks import invalid_argument

    tensor = str(invalid_argument("p", "a float", torch.zeros(2, 3, dtype=torch.int64)))
    assert tensor.endswith("Received: p=<2-D torch.int64 tensor of shape (2, 3)>")
    module = str(invalid_argument("p", "a float", nn.Sequential(nn.Linear(2, 2), nn.ReLU())))
    assert module.endswith("Received: p=<Sequential object>")
    long = str(invalid_argument("p", "a float", "x" * 10_000))
    assert "\n" not in tensor + module + long and len(long) < 400 and long.endswith("xx'")
