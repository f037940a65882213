"""Grid parsing: literal values, log/lin ranges, type checks and errors."""

from __future__ import annotations

import math

import pytest

from reglab.core.errors import ConfigError, InvalidArgumentError
from reglab.experiments.dropout_mlp import DropoutMLPConfig
from reglab.sweeps import get_spec, make_trials, parse_axis, parse_grid, parse_select
from reglab.sweeps.grid import Grid

SPEC = get_spec("dropout")


def test_literal_values_are_typed():
    assert parse_axis("p1=0.1,0.5", DropoutMLPConfig) == ("p1", (0.1, 0.5))
    _key, values = parse_axis("lr=1,0.5", DropoutMLPConfig)  # an int is accepted for a float, as a float
    assert values == (1.0, 0.5) and all(type(v) is float for v in values)
    assert parse_axis("hidden1=128, 256", DropoutMLPConfig) == ("hidden1", (128, 256))
    assert parse_axis("hidden1=64", DropoutMLPConfig) == ("hidden1", (64,))


def test_log_and_lin_ranges():
    _key, values = parse_axis("lr=log:1e-4:10:6", DropoutMLPConfig)
    assert len(values) == 6 and values[0] == pytest.approx(1e-4) and values[-1] == pytest.approx(10.0)
    ratios = [b / a for a, b in zip(values, values[1:])]
    assert ratios == pytest.approx([10.0] * 5)
    assert parse_axis("p2=lin:0:0.8:5", DropoutMLPConfig)[1] == (0.0, 0.2, 0.4, 0.6, 0.8)
    assert parse_axis("hidden1=lin:64:256:4", DropoutMLPConfig)[1] == (64, 128, 192, 256)


def test_grid_is_the_product_in_order():
    grid = parse_grid(["p1=0.1,0.2", "hidden1=32,64,128"], DropoutMLPConfig, SPEC)
    assert len(grid) == 6 and grid.keys == ["p1", "hidden1"]
    points = grid.points()
    assert points[0] == {"p1": 0.1, "hidden1": 32} and points[1] == {"p1": 0.1, "hidden1": 64}
    assert points[-1] == {"p1": 0.2, "hidden1": 128}
    assert Grid.from_json(grid.to_json()) == grid


@pytest.mark.parametrize(
    ("axis", "message"),
    [
        ("width=1,2", "unknown sweep key `width`; valid keys are: hidden1, hidden2, p1"),
        ("hidden1=0.5,1", "setting `hidden1` expects a int"),
        ("p1=", "`p1` has no values"),
        ("p1=  ", "`p1` has no values"),
        ("lr=log:0:1:3", "log range for `lr` needs START and STOP > 0"),
        ("lr=log:1:10", "range 'log:1:10' for `lr` has no COUNT: a continuous range is searched by --backend optuna"),
        ("lr=log:1:10:3:4", "range for `lr` must be log:START:STOP:COUNT"),
        ("hidden1=lin:1:2:3", "setting `hidden1` expects integers"),
        ("p1=0.1,0.1", "`p1` lists a value twice"),
        ("seed=1,2", "`seed` is set by the sweep itself"),
        ("p1", "is not of the form key=v1,v2"),
        ("p1=abc", "could not parse the values of `p1`"),
    ],
)
def test_bad_axes_name_the_key(axis, message):
    with pytest.raises(ConfigError, match=None) as info:
        parse_grid([axis], DropoutMLPConfig, SPEC)
    assert message in str(info.value)


def test_repeated_key_is_refused():
    with pytest.raises(ConfigError, match="given twice"):
        parse_grid(["p1=0.1", "p1=0.2"], DropoutMLPConfig, SPEC)


def test_out_of_range_value_fails_before_any_trial():
    grid = parse_grid(["p1=0.5,1.5"], DropoutMLPConfig, SPEC)
    with pytest.raises(InvalidArgumentError, match=r"argument `p1`.*Received: p1=1.5"):
        make_trials("dropout", grid, SPEC, [4], None)


def test_knob_alias_expands_to_config_overrides():
    spec = get_spec("weight-decay")
    knob = spec.knob("lambda")
    assert knob is not None and knob.overrides(3.0) == {"lambdas": (3.0,), "versions": ("optimizer",)}


def test_select_parsing():
    assert parse_select("val=0.2").value == 0.2 and parse_select("kfold=5").value == 5
    assert parse_select(None) is None
    for bad in ("val=1.2", "kfold=1", "kfold=x", "test=0.2"):
        with pytest.raises(ConfigError, match="--select expects"):
            parse_select(bad)


def test_trials_per_point_seed_and_fold():
    grid = parse_grid(["p1=0.1,0.2"], DropoutMLPConfig, SPEC)
    trials = make_trials("dropout", grid, SPEC, [4, 5], parse_select("kfold=3"))
    assert len(trials) == 2 * 2 * 3
    assert [t.index for t in trials] == list(range(12))
    assert {(t.point["p1"], t.seed, t.fold) for t in trials} == {
        (p, s, f) for p in (0.1, 0.2) for s in (4, 5) for f in range(3)
    }
    assert all(t.overrides["kfold"] == 3 and t.overrides["seed"] == t.seed for t in trials)
    assert math.isclose(trials[0].overrides["p1"], 0.1)
