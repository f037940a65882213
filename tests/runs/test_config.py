"""key=value overrides of frozen configs."""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reglab.core.checks import check_probability
from reglab.core.errors import ConfigError, InvalidArgumentError
from reglab.runs.config import apply_overrides, config_from_dict, config_to_dict, describe_config, parse_overrides


@dataclasses.dataclass(frozen=True)
class Demo:
    lr: float = 0.5
    epochs: int = 10
    name: str = "mlp"
    hidden: tuple = (256, 256)
    flag: bool = False
    p: float = dataclasses.field(default=0.2, metadata={"help": "drop probability"})

    def __post_init__(self):
        check_probability("p", self.p)


def test_literals_are_parsed_and_typed():
    config = apply_overrides(Demo(), ["lr=0.1", "epochs=3", "name=wide", "hidden=(512, 128)", "flag=True"])
    assert config == Demo(lr=0.1, epochs=3, name="wide", hidden=(512, 128), flag=True)


def test_int_is_accepted_for_float_and_converted():
    config = apply_overrides(Demo(), ["lr=1"])
    assert config.lr == 1.0 and isinstance(config.lr, float)


def test_list_becomes_tuple_and_lowercase_bools():
    config = apply_overrides(Demo(), ["hidden=[64, 32]", "flag=true"])
    assert config.hidden == (64, 32) and config.flag is True


@pytest.mark.parametrize(
    "override, message",
    [
        ("epochs=2.5", "setting `epochs` expects a int (default 10); received 2.5"),
        ("epochs=True", "setting `epochs` expects a int"),
        ("lr=fast", "setting `lr` expects a float (default 0.5); could not parse 'fast'"),
        ("flag=1", "setting `flag` expects a bool"),
        ("hidden=(1.5, 2)", "setting `hidden` expects a tuple of int"),
        ("name=3", "setting `name` expects a str"),
    ],
)
def test_wrong_type_is_an_error(override, message):
    with pytest.raises(ConfigError) as info:
        apply_overrides(Demo(), [override])
    assert message in str(info.value)


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError) as info:
        parse_overrides(Demo, ["lrr=0.1"])
    assert str(info.value) == "unknown setting `lrr`; valid settings are: lr, epochs, name, hidden, flag, p"


def test_missing_equals_sign():
    with pytest.raises(ConfigError, match="not of the form key=value"):
        apply_overrides(Demo(), ["lr"])


def test_range_checks_come_from_the_config():
    with pytest.raises(
        InvalidArgumentError, match=r"argument `p`\. Expected a float between 0 and 1\. Received: p=1\.5"
    ):
        apply_overrides(Demo(), ["p=1.5"])


def test_json_round_trip_and_description():
    config = Demo(hidden=(3, 4), lr=0.25)
    data = config_to_dict(config)
    assert data["hidden"] == [3, 4]
    assert config_from_dict(Demo, data) == config
    rows = describe_config(Demo())
    assert ("p", "float", "0.2", "drop probability") in rows


def test_a_setting_given_twice_is_refused():
    with pytest.raises(ConfigError, match=r"^setting `lr` is given twice \(lr=0.1, lr=0.2\); give it once$"):
        apply_overrides(Demo(), ["lr=0.1", "lr=0.2"])


@pytest.mark.parametrize(
    "raw",
    [
        "-" * 3000 + "1",  # RecursionError in Python's parser
        "-" * 9000 + "1",  # MemoryError in Python's parser
        "1+" * 4500 + "1",  # RecursionError
        "(" * 5000 + "1" + ")" * 5000,  # beyond the length limit
        "1" * 20_000,
    ],
)
def test_pathological_literals_get_one_sentence(raw):
    with pytest.raises(ConfigError) as info:
        apply_overrides(Demo(), [f"lr={raw}"])
    message = str(info.value)
    assert message.startswith("setting `lr` expects a float (default 0.5); could not parse '")
    assert len(message) < 300 and "\n" not in message


# Every config field type an experiment uses, to fuzz the parser against.
@dataclasses.dataclass(frozen=True)
class AllTypes:
    f: float = 0.5
    i: int = 3
    s: str = "x"
    b: bool = False
    t: tuple = (1, 2)
    tf: tuple = (0.1, 0.2)
    pairs: tuple = ((0.1, 0.2),)
    p: float = 0.2

    def __post_init__(self):
        check_probability("p", self.p)


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    key=st.sampled_from(["f", "i", "s", "b", "t", "tf", "pairs", "p", "nope", ""]),
    raw=st.one_of(
        st.text(max_size=60),
        st.from_regex(r"[-+()\[\]{},.:eE0-9 xjTrueFalsNn'\"\\]{0,80}", fullmatch=True),
        st.builds(lambda n, c: c * n, st.integers(0, 3000), st.sampled_from(["-", "(", "[", "1+", "not ", "~"])),
    ),
    form=st.sampled_from(["{k}={v}", "{k}{v}", "{k} = {v}", "{v}"]),
)
def test_any_override_gives_a_config_or_reglabs_one_sentence(key, raw, form):
    """The override parser never executes, crashes or raises anything but ConfigError or the
    argument sentence (a range check of the config), whatever the text."""
    try:
        config = apply_overrides(AllTypes(), [form.format(k=key, v=raw)])
    except (ConfigError, InvalidArgumentError) as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600
    else:
        assert isinstance(config, AllTypes)
