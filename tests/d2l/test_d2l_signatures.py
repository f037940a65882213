"""reglab.d2l's public functions take d2l 2.0.0's parameters, in order, with its defaults.

The reference, tests/d2l/data/d2l_signatures.json, was written by hand from
d2l-ai/d2l-zh's d2l/torch.py (commit recorded in the file). reglab may add
keyword-only parameters with defaults after d2l's, and nothing else, so every
call written for d2l binds the same way.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from reglab import d2l

REFERENCE = json.loads((Path(__file__).parent / "data" / "d2l_signatures.json").read_text())
KINDS = {
    "positional_or_keyword": inspect.Parameter.POSITIONAL_OR_KEYWORD,
    "var_positional": inspect.Parameter.VAR_POSITIONAL,
}


def _check(obj, expected: list, where: str) -> None:
    params = [p for p in inspect.signature(obj).parameters.values() if p.name != "self"]
    ours = params[: len(expected)]
    extra = params[len(expected) :]
    assert [p.name for p in ours] == [e[0] for e in expected], where
    for p, (name, kind, default) in zip(ours, expected):
        assert p.kind == KINDS[kind], f"{where}: {name} is {p.kind}"
        if default is None:
            assert p.default is inspect.Parameter.empty, f"{where}: {name} must have no default"
        else:
            assert repr(p.default) == default, f"{where}: {name}={p.default!r}, d2l has {default}"
    for p in extra:  # reglab's additions: keyword-only, optional
        assert p.kind == inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty, (
            f"{where}: extra parameter {p.name} must be keyword-only with a default"
        )


@pytest.mark.parametrize("name", sorted(REFERENCE["functions"]))
def test_function_signature_matches_d2l(name):
    _check(getattr(d2l, name), REFERENCE["functions"][name], name)


@pytest.mark.parametrize(
    "cls,method", [(c, m) for c, methods in sorted(REFERENCE["classes"].items()) for m in sorted(methods)]
)
def test_method_signature_matches_d2l(cls, method):
    _check(getattr(getattr(d2l, cls), method), REFERENCE["classes"][cls][method], f"{cls}.{method}")


def test_checker_rejects_a_changed_signature():
    # the comparison itself must fail on a renamed, reordered, or required extra parameter
    def renamed(w, b, n):
        pass

    def required_extra(w, b, num_examples, *, device):
        pass

    for fn in (renamed, required_extra):
        with pytest.raises(AssertionError):
            _check(fn, REFERENCE["functions"]["synthetic_data"], fn.__name__)


def test_every_reference_name_and_the_aliases_exist():
    for name in [
        "ones",
        "zeros",
        "tensor",
        "arange",
        "normal",
        "matmul",
        "concat",
        "stack",
        "numpy",
        "size",
        "reshape",
        "to",
        "reduce_sum",
        "argmax",
        "astype",
        "transpose",
        "reduce_mean",
        "plt",
    ]:
        assert hasattr(d2l, name), name
