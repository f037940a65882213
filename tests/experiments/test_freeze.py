"""freeze (seed 004): requires_grad_(False) freezing versus torch.no_grad() inference."""

from __future__ import annotations

import json
import math
import time
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import reglab.experiments.freeze as freeze_module
from reglab.core.errors import InvalidArgumentError
from reglab.experiments import RunContext, get_experiment
from reglab.experiments.freeze import FreezeConfig, freeze_mlp, inference_figure, saved_tensor_bytes, time_forward
from reglab.runs.config import apply_overrides
from reglab.runs.runner import run_experiment
from tests.helpers import needs_cuda

CPU = RunContext(device=torch.device("cpu"), quiet=True)
_SMALL = dict(hidden=32, epochs=1, train_subset=1024, test_subset=512, infer_batch=64, repeats=2)


@pytest.mark.parametrize("which", ["first", "last"])
def test_frozen_layer_is_bit_identical_and_the_rest_changed(which):
    r = get_experiment("freeze").run(FreezeConfig(freeze=which, **_SMALL), CPU)
    assert r.summary["frozen_unchanged"] is True
    assert r.summary["frozen_grads_none"] is True
    assert r.summary["trainable_all_changed"] is True
    frozen = r.model[1] if which == "first" else r.model[5]
    assert not any(p.requires_grad for p in frozen.parameters())


def test_no_grad_saves_nothing_and_gives_the_same_outputs():
    r = get_experiment("freeze").run(FreezeConfig(**_SMALL), CPU)
    by_mode = {row["mode"]: row for row in r.summary["inference"]}
    grad, frozen, nograd = by_mode["grad, all trainable"], by_mode["grad, frozen layer"], by_mode["no_grad"]
    assert nograd["saved_tensors"] == 0 and nograd["saved_bytes"] == 0
    assert nograd["requires_grad_output"] is False and grad["requires_grad_output"] is True
    assert r.summary["outputs_equal"] is True
    # Grad mode keeps, at least, the two hidden activations (N, h) for the Linear
    # backward: 2 * 64 * 32 float32, plus the input batch (64, 784) for the first Linear.
    assert grad["activation_bytes"] >= (2 * 64 * 32 + 64 * 784) * 4
    # Freezing the first layer means its input need not be kept.
    assert frozen["activation_bytes"] == grad["activation_bytes"] - 64 * 784 * 4
    assert r.summary["saved_bytes_grad"] > 0 == r.summary["saved_bytes_no_grad"]


def test_saved_tensor_bytes_counts_a_linear_exactly():
    lin = nn.Linear(5, 3)
    x = torch.randn(4, 5, requires_grad=True)
    _, counts = saved_tensor_bytes(lambda: lin(x), list(lin.parameters()))
    # addmm saves its input (for dW) and the weight (for dx): each counted once.
    assert counts["activation_bytes"] == 4 * 5 * 4
    assert counts["param_bytes"] == 3 * 5 * 4
    with torch.no_grad():
        _, counts = saved_tensor_bytes(lambda: lin(x), list(lin.parameters()))
    assert counts == {"saved_tensors": 0, "saved_bytes": 0, "param_bytes": 0, "activation_bytes": 0}


def test_time_forward_is_a_positive_median(monkeypatch):
    # A clock that moves only when fn runs, by a given duration per call: the
    # warm-up takes 8 s, the five timed calls 0.5, 0.125, 0.375, 0.25, 0.4375 s
    # (binary fractions, so the differences are exact). Their median is 0.375;
    # the mean (0.3375), or a median that counted the warm-up (0.40625), differ.
    durations = [8.0, 0.5, 0.125, 0.375, 0.25, 0.4375]
    clock = [100.0]

    def fn():
        clock[0] += durations[len(calls)]
        calls.append(1)

    calls = []
    monkeypatch.setattr(freeze_module, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    assert time_forward(fn, 5, torch.device("cpu")) == 0.375
    assert len(calls) == 6  # one warm-up + 5 timed
    monkeypatch.undo()
    # On the real clock, a forward that sleeps 1 ms has a finite median of about that (at least, less a tick).
    seconds = time_forward(lambda: time.sleep(0.001), 3, torch.device("cpu"))
    assert math.isfinite(seconds) and seconds >= 0.0009


def test_dry_run_files_and_labelled_figures(tmp_path):
    outcome = run_experiment("freeze", dry_run=True, out=tmp_path, quiet=True)
    assert outcome.status == "complete", outcome.error
    assert outcome.run_dir.files() == [
        "config.json",
        "curves.png",
        "inference.csv",
        "inference.png",
        "metrics.csv",
        "model.pt",
        "summary.json",
    ]
    summary = json.loads(outcome.run_dir.file("summary.json").read_text())
    assert summary["frozen_unchanged"] and summary["outputs_equal"]
    fig = inference_figure(summary["inference"], title="t")
    for ax in fig.axes:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None


def test_model_shape_and_bad_settings():
    assert freeze_mlp(8)(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(InvalidArgumentError, match="argument `freeze`"):
        apply_overrides(FreezeConfig(), {"freeze": "middle"})
    with pytest.raises(InvalidArgumentError, match="argument `repeats`"):
        FreezeConfig(repeats=0)


@needs_cuda
def test_cuda_reports_peak_memory_and_no_grad_uses_less():
    r = get_experiment("freeze").run(FreezeConfig(**_SMALL), RunContext(device=torch.device("cuda"), quiet=True))
    by_mode = {row["mode"]: row for row in r.summary["inference"]}
    assert by_mode["no_grad"]["peak_bytes"] < by_mode["grad, all trainable"]["peak_bytes"]
    assert r.summary["frozen_unchanged"] and r.summary["trainable_all_changed"]
