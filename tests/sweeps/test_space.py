"""Search spaces: continuous ranges, integer ranges, choices; the grid's key and type checks."""

from __future__ import annotations

import pytest

from reglab.core.errors import ConfigError
from reglab.runs.experiment import get_experiment
from reglab.sweeps import get_spec
from reglab.sweeps.space import Dimension, SearchSpace, parse_space, single_point_grid


def _space(*axes, experiment="dropout"):
    return parse_space(axes, get_experiment(experiment).config_type, get_spec(experiment))


def test_ranges_without_a_count_are_continuous_and_integers_stay_integers():
    space = _space("lr=log:0.01:1", "p1=lin:0:0.8", "hidden1=log:16:512", "hidden2=64,128", "epochs=3")
    assert space.dims == (
        Dimension("lr", "float", 0.01, 1.0, log=True),
        Dimension("p1", "float", 0.0, 0.8, log=False),
        Dimension("hidden1", "int", 16.0, 512.0, log=True),
        Dimension("hidden2", "categorical", choices=(64, 128)),
        Dimension("epochs", "categorical", choices=(3,)),
    )
    assert space.keys == ["lr", "p1", "hidden1", "hidden2", "epochs"]
    assert SearchSpace.from_json(space.to_json()) == space


def test_a_range_with_a_count_is_a_choice_of_its_values():
    (dim,) = _space("lr=log:0.01:1:3").dims
    assert dim == Dimension("lr", "categorical", choices=(0.01, 0.1, 1.0))


def test_knob_aliases_and_tuples():
    (dim,) = _space("lambda=log:1e-3:10", experiment="weight-decay").dims
    assert dim.kind == "float" and (dim.low, dim.high, dim.log) == (1e-3, 10.0, True)
    (tuples,) = _space("lambdas=(0.0,),(1.0, 2.0)", experiment="weight-decay").dims
    assert SearchSpace.from_json(SearchSpace((tuples,)).to_json()).dims[0].choices == ((0.0,), (1.0, 2.0))


def test_corners_take_every_extreme_value_once():
    space = _space("lr=log:0.01:1", "hidden1=lin:16:64", "p1=0.1,0.5,0.9")
    assert space.corners() == [
        {"lr": 0.01, "hidden1": 16, "p1": 0.1},
        {"lr": 1.0, "hidden1": 16, "p1": 0.1},
        {"lr": 0.01, "hidden1": 64, "p1": 0.1},
        {"lr": 0.01, "hidden1": 16, "p1": 0.5},
        {"lr": 0.01, "hidden1": 16, "p1": 0.9},
    ]
    assert single_point_grid(space.corners()[1]).points() == [{"lr": 1.0, "hidden1": 16, "p1": 0.1}]


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        (["lr=log:0:1"], "log range for `lr` needs START and STOP > 0"),
        (["lr=lin:1:1"], "range for `lr` needs finite START < STOP; received 'lin:1:1'"),
        (["lr=lin:a:1"], "range for `lr` must be lin:START:STOP with numbers"),
        (["hidden1=lin:16.5:64"], "setting `hidden1` expects integers"),
        (["lr=log:0.1:1", "lr=0.5"], "sweep key `lr` is given twice"),
        (["width=lin:1:2"], "unknown sweep key `width`; valid keys are: hidden1, hidden2"),
        (["seed=lin:1:5"], "`seed` is set by the sweep itself"),
        (["epochs=3"], "a search needs at least one range or choice to search"),
        (["p1=0.1,0.1"], "`p1` lists a value twice"),
    ],
)
def test_bad_spaces_are_refused_naming_the_key(axes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _space(*axes)


def test_a_range_over_a_setting_that_is_no_number_is_refused():
    with pytest.raises(ConfigError, match=r"setting `versions` is not a number \(tuple\); list its values"):
        _space("versions=lin:0:1", experiment="weight-decay")
