"""Sweep plots: axes scales follow the data (log x for lambda-like knobs, log y for wide losses)."""

import math
import warnings

from reglab.runs.sweep_spec import SweepSpec
from reglab.sweeps.knob_figures import knob_figure


def _configs(losses):
    lambdas = [0.001, 0.01, 0.1, 1.0]
    return [
        {"lambda": lam, "seeds": 2, "train_loss_mean": loss / 10, "test_loss_mean": loss, "test_loss_std": 0.0}
        for lam, loss in zip(lambdas, losses)
    ]


def test_wide_loss_gets_a_log_y_axis_and_lambda_a_log_x_axis():
    spec = SweepSpec("weight-decay", log_knobs=("lambda",))
    fig = knob_figure(_configs([90.0, 60.0, 5.0, 0.05]), ["lambda"], "lambda", None, spec, "weight-decay")
    ax = fig.get_axes()[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "log scale" in ax.get_ylabel() and ax.get_title() and ax.get_legend().get_texts()


def test_narrow_loss_keeps_a_linear_y_axis():
    spec = SweepSpec("weight-decay", log_knobs=("lambda",))
    fig = knob_figure(_configs([0.9, 0.8, 0.7, 0.6]), ["lambda"], "lambda", None, spec, "weight-decay")
    assert fig.get_axes()[0].get_yscale() == "linear"


def test_trials_without_a_finite_metric_get_a_figure_that_says_so_without_a_warning():
    spec = SweepSpec("weight-decay", log_knobs=("lambda",))
    configs = _configs([math.nan] * 4)
    for config in configs:
        config["train_loss_mean"] = math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns on a legend without lines
        fig = knob_figure(configs, ["lambda"], "lambda", None, spec, "weight-decay")
    ax = fig.get_axes()[0]
    assert ax.get_legend() is None and [t.get_text() for t in ax.texts] == ["no finite loss in these trials"]
