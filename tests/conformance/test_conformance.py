"""The conformance checker: it passes correct dropouts and penalties and fails
each defective one (tests/conformance/conformance_fixtures.py) on exactly the right properties."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import reglab
from reglab.cli import main
from reglab.conformance import (
    DROPOUT_PROPERTIES,
    PENALTY_PROPERTIES,
    ConformanceReport,
    TargetImportError,
    Verdict,
    check_dropout,
    check_penalty,
    load_target,
)
from reglab.core.errors import InvalidArgumentError, ReglabError
from tests.conformance import conformance_fixtures as fx
from tests.helpers import needs_cuda

FIXTURES = Path(__file__).with_name("conformance_fixtures.py")


# --- dropout: correct implementations pass every property ---------------------------

CORRECT = {
    "F.dropout": F.dropout,
    "nn.Dropout": nn.Dropout,
    "reglab.dropout": reglab.dropout,
    "reglab.Dropout": reglab.Dropout,
    "factory": lambda p: reglab.Dropout(p, inplace=True),
}


@pytest.mark.parametrize("name", list(CORRECT))
def test_correct_dropouts_pass_every_property(name):
    report = check_dropout(CORRECT[name])
    assert [c.name for c in report] == list(DROPOUT_PROPERTIES)
    assert report.failed == [] and report.not_applicable == [], report.format()
    assert report.ok


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_correct_dropout_passes_whatever_the_seed(seed):
    # 5-SE tolerances: a false alarm is a ~1e-6 event per check, so any seed passes.
    assert check_dropout(F.dropout, seed=seed, n=2**16).ok


def test_calling_conventions_are_named():
    def convention(target):
        return check_dropout(target, n=2**10).convention

    assert convention(F.dropout) == "function f(x, p, training=...)"
    assert convention(nn.Dropout).startswith("module Dropout(p)")
    assert convention(CORRECT["factory"]).startswith("factory make(p)")
    assert convention(fx.d2l_dropout) == "function f(x, p (no training flag))"

    def make(p, inplace=False):  # binds (x, p) too: recognised by its first parameter's name
        return reglab.Dropout(p, inplace=inplace)

    assert convention(make).startswith("factory make(p)")


# --- dropout: each seed defect fails exactly its properties -------------------------


@functools.cache
def _fixture_report(name: str) -> ConformanceReport:
    return check_dropout(getattr(fx, name))


@pytest.mark.parametrize("name", list(fx.EXPECTED_FAILURES))
def test_defective_dropouts_fail_exactly_the_right_properties(name):
    report = _fixture_report(name)
    assert set(report.failed) == fx.EXPECTED_FAILURES[name], report.format()
    assert not report.ok
    for check in report:
        assert bool(check.explanation) or not check.failed  # every failure says what is wrong


def test_normal_draw_mask_is_diagnosed():
    report = _fixture_report("d2l_dropout")
    assert "normal distribution" in report["keep_rate"].explanation
    assert report["eval_identity"].verdict is Verdict.NA  # no training flag: tested in training only
    assert "assert" in report["bad_p"].explanation  # passes, with a note about python -O


def test_flipped_convention_is_named():
    report = _fixture_report("keep_prob_dropout")
    assert "looks like p is used as the keep probability" in report["keep_rate"].explanation
    assert "1/p" in report["scale"].explanation


def test_vanilla_reused_and_eval_defects_are_explained():
    assert "not rescaled" in _fixture_report("vanilla_dropout")["scale"].explanation
    assert "(1-p) × input mean" in _fixture_report("vanilla_dropout")["mean"].explanation
    assert "reused" in _fixture_report("CachedMaskDropout")["independent_calls"].explanation
    assert "self.training" in _fixture_report("NoEvalSwitchDropout")["eval_identity"].explanation


def _masked(x: torch.Tensor, p: float, mask_shape=None) -> torch.Tensor:
    if not 0 <= p <= 1:
        raise ValueError("bad p")
    mask = torch.rand(mask_shape or x.shape, device=x.device) >= p
    return x * mask.to(x.dtype) / (1 - p)


def test_mask_shared_along_a_dimension_fails_element_independence():
    report = check_dropout(lambda x, p, training=True: _masked(x, p, (1, x.shape[-1])) if training else x)
    assert "independent_elements" in report.failed
    assert "along dim 0" in report["independent_elements"].explanation


def test_p_one_nan_fails_and_rejection_passes():
    naive = check_dropout(lambda x, p, training=True: _masked(x, p) if training else x)
    assert naive.failed == ["p_one"] and "NaN" in naive["p_one"].explanation

    def rejecting(x, p, training=True):
        if p == 1:
            raise ValueError("p = 1 has no meaning here")
        return _masked(x, p) if training else x

    report = check_dropout(rejecting)
    assert report.ok and report["p_one"].measured == "rejected"
    assert "ValueError" in report["p_one"].explanation


def test_gradient_defects_fail():
    detached = check_dropout(lambda x, p, training=True: _masked(x.detach(), p) if p else x)
    assert "gradient" in detached.failed and "no gradient" in detached["gradient"].explanation

    def leaky(x, p, training=True):  # right values, but the gradient ignores the mask
        if not training or p == 0:
            return x
        return x * 0 if p == 1 else _masked(x, p).detach() + (x - x.detach())

    report = check_dropout(leaky)
    assert report.failed == ["gradient"] and "dropped elements" in report["gradient"].explanation


def test_dtype_and_bad_p_defects_fail():
    to_float = check_dropout(lambda x, p, training=True: _masked(x, p).float() if training else x)
    assert "device_dtype" in to_float.failed
    assert "float64 input gave float32" in to_float["device_dtype"].measured

    def unchecked(x, p, training=True):
        if not training:
            return x
        return x * (torch.rand_like(x) >= p).to(x.dtype) / (1 - p) if p < 1 else x * 0

    report = check_dropout(unchecked)
    assert report.failed == ["bad_p"] and "p=1.5" in report["bad_p"].measured


def test_a_crashing_target_fails_with_the_exception_named():
    def broken(x, p, training=True):
        raise RuntimeError("boom")

    report = check_dropout(broken)
    assert report["keep_rate"].failed and "RuntimeError: boom" in report["keep_rate"].explanation


def test_global_rng_state_is_restored():
    before = torch.get_rng_state()
    check_dropout(F.dropout, n=2**12)
    assert torch.equal(torch.get_rng_state(), before)


def test_bad_arguments_are_rejected_with_one_sentence():
    with pytest.raises(InvalidArgumentError, match=r"argument `p_values`. Expected a float in \(0, 1\)"):
        check_dropout(F.dropout, p_values=(0.0, 0.5))
    with pytest.raises(InvalidArgumentError, match="argument `n`"):
        check_dropout(F.dropout, n=10)
    with pytest.raises(InvalidArgumentError, match="not a Module instance"):
        check_dropout(nn.Dropout(0.5))
    with pytest.raises(InvalidArgumentError, match="argument `kind`"):
        check_penalty(fx.l2_half, kind="l3")
    with pytest.raises(InvalidArgumentError, match="argument `lam`"):
        check_penalty(fx.l2_half, lam=-1.0)


# --- penalties -----------------------------------------------------------------------


@pytest.mark.parametrize("target, kind", [(fx.l2_half, "l2"), (fx.L2, "l2"), (fx.l1, "l1")])
def test_correct_penalties_pass(target, kind):
    report = check_penalty(target, kind=kind)
    assert [c.name for c in report] == list(PENALTY_PROPERTIES)
    assert report.ok and report.not_applicable == [], report.format()


def test_double_l2_is_named_twice_the_convention():
    report = check_penalty(fx.l2_double)
    assert set(report.failed) == {"value", "gradient"}
    assert "this is λ·Σw², twice reglab's/SGD's convention" in report["value"].explanation
    assert "2λ·w" in report["gradient"].explanation


def test_penalized_biases_fail_bias_exclusion():
    report = check_penalty(fx.l2_with_biases)
    assert report.failed == ["bias_excluded"]
    assert "biases and normalisation weights get no penalty" in report["bias_excluded"].explanation


def test_penalty_of_the_wrong_kind_is_named():
    assert "an L2 penalty" in check_penalty(fx.l2_half, kind="l1")["value"].explanation
    assert "an L1 penalty" in check_penalty(fx.l1, kind="l2")["value"].explanation


def test_penalty_without_model_support_float_result_and_no_checks():
    def list_only(params, lam):
        if isinstance(params, nn.Module):
            raise TypeError("give me tensors")
        return fx.l2_half(params, lam)

    assert check_penalty(list_only)["bias_excluded"].verdict is Verdict.NA

    def as_float(params, lam):
        return float(fx.l2_half(params, lam).detach())

    report = check_penalty(as_float)
    assert {"gradient", "device_dtype"} <= set(report.failed) and "value" not in report.failed

    def unchecked(params, lam):
        return lam / 2 * sum((w * w).sum() for w in fx._weights(params))

    assert check_penalty(unchecked).failed == ["bad_lambda"]


def test_keyword_only_lambda_is_bound_by_name():
    def keyword(params, *, weight_decay):
        return fx.l2_half(params, weight_decay)

    report = check_penalty(keyword)
    assert report.convention == "fn(params, weight_decay=lam)" and report.ok


def test_reglab_penalties_pass():
    assert check_penalty(reglab.l2_penalty, kind="l2").ok
    assert check_penalty(reglab.l1_penalty, kind="l1").ok


# --- the report ----------------------------------------------------------------------


def test_report_table_and_verdict_line():
    report = check_dropout(fx.vanilla_dropout, name="vanilla")
    text = report.format()
    lines = text.splitlines()
    assert lines[0].startswith("conformance of vanilla (dropout; called as function f(x, p, training=...))")
    header = next(line for line in lines if line.startswith("property"))
    assert header.split() == ["property", "verdict", "measured", "expected"]
    for name in DROPOUT_PROPERTIES:
        row = next(line for line in lines if line.startswith(name + " "))
        assert row.split()[1] == str(report[name].verdict)
    assert "!! scale: survivors are not rescaled" in text
    assert lines[-1] == "verdict: DOES NOT CONFORM (9 passed, 2 failed, 0 not applicable; failed: mean, scale)"
    assert str(report) == text
    with pytest.raises(KeyError, match="keep_rate"):
        report["nonexistent"]


# --- load_target ---------------------------------------------------------------------


def test_load_target_finds_functions_classes_and_files(tmp_path):
    assert load_target("torch.nn.functional:dropout") is F.dropout
    assert load_target("torch.nn:Dropout") is nn.Dropout
    assert load_target("torch:nn.Dropout") is nn.Dropout
    assert load_target(f"{FIXTURES}:l2_double").__name__ == "l2_double"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("torch.nn.functional", "Expected MODULE:CALLABLE"),
        ("a:b:c", "Expected MODULE:CALLABLE"),
        ("no_such_module_xyz:f", "cannot import module `no_such_module_xyz`"),
        ("torch.nn.functional:dropoot", "has no attribute `dropoot`; did you mean dropout"),
        ("torch:__version__", "not a callable"),
        ("missing_file.py:f", "no such file"),
    ],
)
def test_load_target_errors(spec, message):
    with pytest.raises(TargetImportError, match=message) as info:
        load_target(spec)
    assert isinstance(info.value, ReglabError)


def test_load_target_reports_a_failing_import(tmp_path):
    bad = tmp_path / "bad_module.py"
    bad.write_text("raise RuntimeError('broken at import')\n")
    with pytest.raises(TargetImportError, match="RuntimeError: broken at import"):
        load_target(f"{bad}:f")


# --- the command line ----------------------------------------------------------------


def test_cli_check_exit_codes(capsys):
    assert main(["check", "torch.nn.functional:dropout"]) == 0
    out = capsys.readouterr().out
    assert "keep_rate" in out and out.rstrip().splitlines()[-1].startswith("verdict: CONFORMS")

    assert main(["check", f"{FIXTURES}:NoEvalSwitchDropout", "--seed", "3"]) == 1
    out = capsys.readouterr().out
    assert "eval_identity         FAIL" in out and "DOES NOT CONFORM" in out

    assert main(["check", f"{FIXTURES}:l2_double", "--kind", "penalty"]) == 1
    assert "twice reglab's/SGD's convention" in capsys.readouterr().out
    assert main(["check", f"{FIXTURES}:l1", "--kind", "l1"]) == 0
    capsys.readouterr()

    assert main(["check", "no_such_module_xyz:f"]) == 2
    assert "cannot import module" in capsys.readouterr().err
    assert main(["check", "torch.nn.functional:dropout", "--device", "tpu"]) == 2
    assert "argument `device`" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["check", "torch.nn.functional:dropout", "--kind", "l3"])
    assert info.value.code == 2


# --- CUDA ----------------------------------------------------------------------------


@needs_cuda
def test_cuda_dropouts():
    assert check_dropout(reglab.dropout, device="cuda").ok
    assert check_dropout(F.dropout, device="cuda").ok
    report = check_dropout(fx.d2l_dropout, device="cuda")  # its mask is made on the CPU
    assert "keep_rate" in report.failed and "raised" in report["keep_rate"].measured
    assert check_penalty(fx.l2_half, device="cuda").ok


@pytest.mark.parametrize(
    "source, code, message",
    [
        (
            "import sys\nsys.exit(0)\ndef f(x, p, training=True):\n    return x\n",
            2,
            "reglab: error: importing `{file}` called sys.exit(0): reglab check imports the module and runs its "
            'top-level code; keep a script\'s own code under `if __name__ == "__main__":`\n',
        ),
        (
            "import sys\ndef f(x, p, training=True):\n    sys.exit(0)\n",
            1,
            "reglab: error: `{file}:f` called sys.exit(0) while being checked; a dropout or penalty must return "
            "its result, not end the program\n",
        ),
    ],
    ids=["at import", "when called"],
)
def test_a_target_that_calls_sys_exit_fails_in_one_sentence_never_exit_0(tmp_path, capsys, source, code, message):
    target = tmp_path / "exits.py"
    target.write_text(source)
    assert main(["check", f"{target}:f"]) == code
    captured = capsys.readouterr()
    assert captured.err == message.format(file=target) and captured.out == ""


def test_a_module_is_looked_for_in_the_current_directory_first(tmp_path, monkeypatch):
    elsewhere, here = tmp_path / "elsewhere", tmp_path / "here"
    for folder, answer in ((elsewhere, "installed"), (here, "current directory")):
        folder.mkdir()
        (folder / "reglab_shadow_probe.py").write_text(f"def f(x, p):\n    return {answer!r}\n")
    monkeypatch.syspath_prepend(str(elsewhere))
    monkeypatch.chdir(here)
    monkeypatch.delitem(sys.modules, "reglab_shadow_probe", raising=False)
    assert load_target("reglab_shadow_probe:f")(None, 0.5) == "current directory"
    monkeypatch.delitem(sys.modules, "reglab_shadow_probe", raising=False)
