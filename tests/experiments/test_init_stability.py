"""init-stability (seed 003): per-layer signal scales of a deep MLP at initialisation."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from reglab.core.errors import InvalidArgumentError
from reglab.experiments import RunContext, get_experiment
from reglab.experiments.init_stability import (
    InitStabilityConfig,
    deep_mlp,
    init_deep_mlp_,
    layer_stats,
    stats_figure,
)
from reglab.runs.config import apply_overrides
from reglab.runs.runner import run_experiment
from tests.helpers import assert_figure_labelled


@pytest.fixture(scope="module")
def default_result():
    # The default experiment (depth 12, width 256, one Fashion-MNIST batch of 256).
    experiment = get_experiment("init-stability")
    return experiment.run(experiment.default_config(), RunContext(device=torch.device("cpu"), quiet=True))


def test_dry_run_writes_its_files(tmp_path):
    outcome = run_experiment("init-stability", dry_run=True, out=tmp_path, quiet=True)
    assert outcome.status == "complete", outcome.error
    assert outcome.run_dir.files() == ["config.json", "layers.csv", "stds.png", "summary.json"]
    summary = json.loads(outcome.run_dir.file("summary.json").read_text())
    assert summary["depth"] == 4 and set(summary) >= {"relu_normal", "relu_he", "tanh_xavier"}
    lines = outcome.run_dir.file("layers.csv").read_text().splitlines()
    assert lines[0] == "activation,init,layer,act_std,grad_std,weight_grad_std"
    assert len(lines) == 1 + 2 * 3 * 4  # activations x inits x layers


def test_normal_001_vanishes_by_more_than_100x(default_result):
    for act in ("relu", "tanh"):
        s = default_result.summary[f"{act}_normal"]
        assert s["act_shrink"] > 100, s
        # and the backward signal vanishes towards the input as well
        assert s["grad_std_first"] < s["grad_std_last"] / 100, s


@pytest.mark.parametrize("key", ["tanh_xavier", "relu_he"])
def test_xavier_tanh_and_he_relu_stay_within_10x_at_every_layer(default_result, key):
    s = default_result.summary[key]
    assert s["act_spread_log10"] < 1.0, s
    assert s["grad_spread_log10"] < 1.0, s


def test_normal_init_shrinks_by_the_closed_form_factor_per_layer():
    # Once the signal is tiny, tanh is the identity and each layer multiplies the
    # rms by std * sqrt(fan_in) = 0.01 * sqrt(256) = 0.16 (E|Wh|^2 = fan_out std^2 |h|^2).
    g = torch.Generator().manual_seed(0)
    model = init_deep_mlp_(deep_mlp(12, 256, "tanh"), "normal", normal_std=0.01, generator=g).double()
    x = torch.randn(4096, 784, dtype=torch.float64, generator=g)
    stats = layer_stats(model, x, torch.zeros(4096, dtype=torch.long))
    ratios = [b["act_std"] / a["act_std"] for a, b in zip(stats[3:], stats[4:])]
    geo = math.exp(sum(map(math.log, ratios)) / len(ratios))
    assert abs(geo - 0.16) < 0.16 * 0.05, geo


def test_layer_stats_match_autograd_directly():
    g = torch.Generator().manual_seed(1)
    model = init_deep_mlp_(deep_mlp(3, 8, "relu", inputs=5, outputs=3), "he", generator=g).double()
    x = torch.randn(16, 5, dtype=torch.float64, generator=g)
    y = torch.randint(0, 3, (16,), generator=g)
    stats = layer_stats(model, x, y)
    h1 = torch.relu(model[0](x))
    assert stats[0]["act_std"] == pytest.approx(h1.std().item(), rel=1e-12)
    # gradient of the loss w.r.t. the last hidden output, by hand
    h = x
    for m in model[:-1]:
        h = m(h)
    h = h.detach().requires_grad_(True)
    nn.functional.cross_entropy(model[-1](h), y).backward()
    assert stats[-1]["grad_std"] == pytest.approx(h.grad.std().item(), rel=1e-12)
    assert stats[0]["weight_grad_std"] == pytest.approx(model[0].weight.grad.std().item(), rel=1e-12)


def test_inits_have_their_closed_form_scales():
    g = torch.Generator().manual_seed(0)
    model = deep_mlp(2, 512, "relu", inputs=1024, outputs=10)
    for init, expected in [("normal", 0.01), ("xavier", math.sqrt(2 / (1024 + 512))), ("he", math.sqrt(2 / 1024))]:
        init_deep_mlp_(model, init, generator=g)
        w = model[0].weight.double()
        n = w.numel()
        # the sample std of n normals has standard error std / sqrt(2n)
        assert abs(w.std().item() - expected) < 5 * expected / math.sqrt(2 * n)
        assert torch.count_nonzero(model[0].bias) == 0


def test_same_seed_same_numbers_and_figure_is_labelled():
    config = InitStabilityConfig(depth=3, width=16, batch_size=32, inputs="gaussian")
    ctx = RunContext(device=torch.device("cpu"), quiet=True)
    a = get_experiment("init-stability").run(config, ctx)
    b = get_experiment("init-stability").run(config, ctx)
    assert a.summary == b.summary
    stats = {("relu", "he"): [{"layer": 1, "act_std": 1.0, "grad_std": 1e-3, "weight_grad_std": 1e-2}]}
    assert_figure_labelled(stats_figure(stats, title="t"))


@pytest.mark.parametrize(
    "override, name",
    [
        ({"depth": 1}, "depth"),
        ({"activations": ("relu", "gelu")}, "activations"),
        ({"inits": ()}, "inits"),
        ({"inputs": "mnist"}, "inputs"),
        ({"normal_std": 0.0}, "normal_std"),
    ],
)
def test_bad_settings_name_the_argument(override, name):
    with pytest.raises(InvalidArgumentError, match=f"argument `{name}`"):
        apply_overrides(InitStabilityConfig(), override)
