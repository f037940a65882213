"""The DropPath and DropBlock contracts: reglab's and timm's layers, and defective fixtures
(tests/conformance/conformance_fixtures.py) that must fail exactly the right properties."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import reglab
from reglab.cli import main
from reglab.conformance import DROPBLOCK_PROPERTIES, DROPPATH_PROPERTIES, check_dropblock, check_droppath
from reglab.conformance.structured import _unexplained_drops
from reglab.core.errors import InvalidArgumentError
from tests import helpers
from tests.conformance import conformance_fixtures as fx

FIXTURES = Path(__file__).with_name("conformance_fixtures.py")
CHECKERS = {"droppath": check_droppath, "dropblock": check_dropblock}


@pytest.mark.parametrize(
    "target",
    [reglab.DropPath, reglab.drop_path, lambda p: reglab.DropPath(p, scale_by_keep=True)],
    ids=["DropPath", "drop_path", "factory"],
)
def test_reglabs_drop_path_conforms(target):
    report = check_droppath(target)
    assert [c.name for c in report] == list(DROPPATH_PROPERTIES)
    assert report.ok and report.passed == list(DROPPATH_PROPERTIES), report.format()


@pytest.mark.parametrize("target", [reglab.DropBlock2d, reglab.drop_block_2d], ids=["DropBlock2d", "drop_block_2d"])
@pytest.mark.parametrize("block_size", [3, 5])
def test_reglabs_drop_block_conforms(target, block_size):
    report = check_dropblock(target, block_size=block_size)
    assert [c.name for c in report] == list(DROPBLOCK_PROPERTIES)
    assert report.ok and report.passed == list(DROPBLOCK_PROPERTIES), report.format()


@pytest.mark.parametrize("name", list(fx.EXPECTED_STRUCTURED_FAILURES))
def test_defective_layers_fail_exactly_the_right_properties(name):
    kind, expected = fx.EXPECTED_STRUCTURED_FAILURES[name]
    report = CHECKERS[kind](getattr(fx, name))
    assert set(report.failed) == expected, report.format()
    for check in report:
        if check.failed:
            assert check.explanation  # each failure says what is wrong


def test_the_explanations_name_the_mistake():
    assert "partly dropped" in check_droppath(fx.ElementwiseDropPath)["per_sample"].explanation
    assert "keep probability" in check_droppath(fx.KeepProbDropPath)["keep_rate"].explanation
    assert "not rescaled" in check_droppath(fx.unscaled_drop_path)["scale"].explanation
    assert "do not form 3x3 squares" in check_dropblock(fx.UnitDropBlock)["blocks"].explanation
    assert "rescaled" in check_dropblock(fx.UnscaledDropBlock)["mean"].explanation
    assert "more than p" in check_dropblock(fx.UncorrectedGammaDropBlock)["drop_rate"].explanation


def test_timms_drop_path_conforms():
    timm_drop = helpers.timm_drop()
    for target in (timm_drop.DropPath, lambda p: timm_drop.DropPath(p), timm_drop.drop_path):
        report = check_droppath(target)
        assert report.ok, report.format()


def test_timms_drop_block_keeps_blocks_and_mean_but_overdrops_and_accepts_p_above_one():
    # timm >= 1.0.23 draws block seeds over the whole map at the seed rate meant for the
    # valid region, so it drops more than p (by ~H*W / (H-b+1)^2 inside the map), and it
    # never checks drop_prob (p = 1.5 gives a seed rate < 1 and runs).
    timm_drop = helpers.timm_drop()
    report = check_dropblock(timm_drop.DropBlock2d)
    assert report.failed == ["drop_rate", "bad_p"], report.format()
    assert "more than p" in report["drop_rate"].explanation
    assert "p=1.5" in report["bad_p"].measured
    assert {"blocks", "mean", "eval_identity", "p_zero", "independent_calls"} <= set(report.passed)


def test_the_block_test_accepts_blocks_cut_by_the_edge_and_refuses_single_units():
    dropped = torch.zeros(1, 8, 8, dtype=torch.bool)
    dropped[0, 0:2, 0:2] = True  # a 3x3 block centred on (0, 0), cut by the corner
    dropped[0, 3:6, 3:6] = True  # a whole block
    assert not _unexplained_drops(dropped, 3).any()
    dropped[0, 7, 2] = True  # a lone unit on the bottom edge: two rows short of a block
    dropped[0, 1, 6] = True  # a lone unit inside
    assert _unexplained_drops(dropped, 3).nonzero().tolist() == [[0, 1, 6], [0, 7, 2]]


def test_bad_arguments_are_refused_with_one_sentence():
    with pytest.raises(InvalidArgumentError, match="`size`"):
        check_dropblock(reglab.DropBlock2d, block_size=7, size=5)
    with pytest.raises(InvalidArgumentError, match="`p_values`"):
        check_droppath(reglab.DropPath, p_values=(0.0,))
    with pytest.raises(InvalidArgumentError, match="`target`"):
        check_droppath(reglab.DropPath(0.1))


def test_cli_check_droppath_and_dropblock(capsys):
    assert main(["check", "reglab:DropPath", "--kind", "droppath"]) == 0
    out = capsys.readouterr().out
    assert "per_sample" in out and out.rstrip().endswith("0 not applicable)")
    assert main(["check", f"{FIXTURES}:UnitDropBlock", "--kind", "dropblock", "--block-size", "3"]) == 1
    assert "blocks             FAIL" in capsys.readouterr().out
    assert main(["check", "reglab:DropBlock2d", "--kind", "dropblock", "--block-size", "0"]) == 2
    assert "argument `block_size`" in capsys.readouterr().err


def test_cli_checks_timms_own_file():
    # `timm.layers:DropPath` needs an importable timm (torchvision); the file itself imports only torch.
    path = helpers.timm_drop_file()
    if path is None:
        pytest.skip("timm is not installed")
    assert main(["check", f"{path}:DropPath", "--kind", "droppath"]) == 0
    assert main(["check", f"{path}:DropBlock2d", "--kind", "dropblock"]) == 1
