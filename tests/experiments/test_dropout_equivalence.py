"""dropout-equivalence (seed 001): vanilla vs inverted dropout, and the seeds' randn > p masks."""

from __future__ import annotations

import math

import pytest
import torch

from reglab import Dropout, InvalidArgumentError, VanillaDropout
from reglab.experiments import RunContext, get_experiment
from reglab.experiments.dropout_equivalence import (
    DropoutEquivalenceConfig,
    expected_activation_z,
    keep_rate_table,
    normal_draw_mask,
    normal_keep_rate,
)
from tests.helpers import assert_figure_labelled, assert_run_files, needs_cuda, run_dry

CPU = torch.device("cpu")
SMALL = dict(
    train_subset=2048, test_subset=1000, epochs=2, mask_samples=200, probes=2, table_ps=(0.5,), mask_elements=1000
)


def _run(**overrides):
    config = DropoutEquivalenceConfig(**{**SMALL, **overrides})
    return get_experiment("dropout-equivalence").run(config, RunContext(device=CPU, quiet=True))


def test_dry_run_writes_files_and_labelled_plots(tmp_path, monkeypatch):
    outcome, figures = run_dry("dropout-equivalence", tmp_path, monkeypatch)
    summary = assert_run_files(outcome, ["metrics.csv", "keep_rate.csv", "equivalence.png", "keep_rate.png"])
    assert sorted(figures) == ["equivalence.png", "keep_rate.png"]
    for fig in figures.values():
        assert_figure_labelled(fig)
    assert len(figures["keep_rate.png"].get_axes()) == 2
    for key in ("train_loss", "test_loss", "test_acc", "max_abs_logit_diff_matched", "argmax_agreement_same_lr"):
        assert math.isfinite(summary[key]), key
    assert [r["p"] for r in summary["keep_rate"]] == [0.2, 0.5]
    assert (outcome.run_dir.path / "keep_rate.csv").read_text().startswith("p,keep_uniform,keep_exact,keep_normal,")


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_mean_over_masks_equals_the_eval_output_for_both_forms(p):
    n = 4000
    a = torch.rand(300, dtype=torch.float64) + 0.1
    for module, scale in (
        (Dropout(p, generator=torch.Generator().manual_seed(1)), 1 / (1 - p)),
        (VanillaDropout(p, generator=torch.Generator().manual_seed(1)), 1.0),
    ):
        outs = module.train()(a.expand(n, 300).clone())
        std = a * scale * math.sqrt(p * (1 - p))
        assert expected_activation_z(outs, module.eval()(a), std) < 5.0
        # Negative control: comparing with the other form's eval output is far off.
        wrong = a if isinstance(module, VanillaDropout) else (1 - p) * a
        assert expected_activation_z(outs, wrong, std) > 10.0


def test_equal_expectations_hold_in_the_trained_nets():
    s = _run(mask_samples=1000, probes=4).summary
    for key in ("z_hidden_inverted", "z_logits_inverted", "z_hidden_vanilla", "z_logits_vanilla"):
        assert s[key] < 5.0, (key, s[key])


def test_matched_vanilla_training_is_bit_identical_at_p_half():
    s = _run(p=0.5).summary
    assert s["max_abs_logit_diff_matched"] == 0.0 and s["max_abs_w2_gap_matched"] == 0.0
    assert s["argmax_agreement_matched"] == 1.0
    # Without the lr adjustment the nets really differ: the check above is not vacuous.
    assert s["argmax_agreement_same_lr"] < 0.99


def test_matched_vanilla_training_agrees_to_float_tolerance_at_p_0_2():
    s = _run(p=0.2).summary
    assert s["max_abs_logit_diff_matched"] < 1e-3
    assert s["argmax_agreement_matched"] >= 0.999
    assert s["test_acc_vanilla_matched"] == pytest.approx(s["test_acc"], abs=0.002)


def test_normal_draw_keeps_one_minus_phi_not_one_minus_p():
    assert normal_keep_rate(0.5) == pytest.approx(0.308538, abs=1e-6)
    assert normal_keep_rate(0.2) == pytest.approx(0.420740, abs=1e-6)
    n = 200_000
    rows = keep_rate_table((0.2, 0.5, 0.8), n, torch.ones(n), seed=0)
    for r in rows:
        p, q = r["p"], normal_keep_rate(r["p"])
        assert abs(r["keep_uniform"] - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)
        assert abs(r["keep_normal"] - q) < 5 * math.sqrt(q * (1 - q) / n)
        # On constant activations the mean ratio is keep / (1 - p): unbiased vs (1 - Phi(p)) / (1 - p).
        assert abs(r["mean_ratio_uniform"] - 1) < 5 * math.sqrt(p / ((1 - p) * n))
        assert abs(r["mean_ratio_normal"] - q / (1 - p)) < 5 * math.sqrt(q * (1 - q) / n) / (1 - p)
    assert rows[1]["mean_ratio_normal"] == pytest.approx(0.617, abs=0.01)  # 38% of the mean lost at p = 0.5
    mask = normal_draw_mask((1000,), 0.5, device=CPU, generator=torch.Generator().manual_seed(0))
    assert torch.equal(mask, torch.randn(1000, generator=torch.Generator().manual_seed(0)) > 0.5)


@pytest.mark.parametrize(
    "bad",
    [
        {"p": 1.0},
        {"p": -0.1},
        {"table_ps": ()},
        {"table_ps": (1.0,)},
        {"mask_samples": 1},
        {"hidden": 0},
        {"val_fraction": 1.5},
    ],
)
def test_bad_settings_raise_the_argument_sentence(bad):
    key = next(iter(bad))
    with pytest.raises(InvalidArgumentError, match=f"argument `{key}`"):
        DropoutEquivalenceConfig(**bad)


@needs_cuda
def test_cuda_matched_training_is_identical_at_p_half():
    config = DropoutEquivalenceConfig(**SMALL)
    s = get_experiment("dropout-equivalence").run(config, RunContext(device=torch.device("cuda"), quiet=True)).summary
    assert s["max_abs_logit_diff_matched"] < 1e-5 and s["argmax_agreement_matched"] >= 0.999
