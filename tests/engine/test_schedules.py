"""Regularization schedules: closed forms, and the callback that applies them in fit."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import reglab
from reglab import (
    BatchIterator,
    ConstantSchedule,
    CosineSchedule,
    CurriculumDropout,
    DropBlockRamp,
    LinearWarmup,
    RegularizationSchedule,
    StepSchedule,
    fit,
)
from reglab.core.errors import ConfigError, InvalidArgumentError
from reglab.runs.run_dir import MetricsWriter, RunDir
from tests import helpers

# -- the schedules: closed forms -------------------------------------------------------------


def test_constant():
    assert [ConstantSchedule(0.3)(t, 10) for t in (0, 5, 50)] == [0.3, 0.3, 0.3]
    assert ConstantSchedule(0.3)(7) == 0.3  # no total needed


def test_linear_warmup_rises_linearly_then_holds():
    s = LinearWarmup(0.5, warmup=10, start=0.1)
    for t in range(25):
        expected = 0.1 + 0.4 * min(t, 10) / 10
        assert s(t) == pytest.approx(expected, abs=1e-15)
    assert s(10) == 0.5
    assert LinearWarmup(0.5, warmup=0)(0) == 0.5


def test_step_schedule_changes_at_each_milestone():
    s = StepSchedule(values=(0.1, 0.3, 0.5), milestones=(10, 20))
    assert [s(t) for t in (0, 9, 10, 19, 20, 1000)] == [0.1, 0.1, 0.3, 0.3, 0.5, 0.5]


def test_cosine_follows_half_a_cosine_from_start_to_end():
    s = CosineSchedule(0.5, 0.1)
    for t in range(0, 31):
        expected = 0.1 + 0.4 * (1 + math.cos(math.pi * min(t, 20) / 20)) / 2
        assert s(t, 20) == pytest.approx(expected, abs=1e-15)
    assert s(0, 20) == 0.5
    assert s(10, 20) == pytest.approx(0.3, abs=1e-15)
    assert s(20, 20) == pytest.approx(0.1, abs=1e-15)


def test_curriculum_dropout_is_morerios_exponential_rise():
    # theta(t) = (1 - theta_bar) exp(-gamma t) + theta_bar is the retain probability; p = 1 - theta.
    s = CurriculumDropout(0.5, gamma=0.1)
    theta_bar = 0.5
    for t in range(50):
        theta = (1 - theta_bar) * math.exp(-0.1 * t) + theta_bar
        assert s(t) == pytest.approx(1 - theta, abs=1e-15)
    assert s(0) == 0.0
    # default gamma = 10 / total: within e^-10 of p_final at the end
    assert CurriculumDropout(0.5)(100, 100) == pytest.approx(0.5 * (1 - math.exp(-10)), abs=1e-15)


def test_dropblock_ramp_is_linear_from_zero_to_target_over_the_run():
    s = DropBlockRamp(0.2)
    assert [s(t, 4) for t in (0, 1, 2, 3, 4, 9)] == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2, 0.2], abs=1e-15)


@pytest.mark.parametrize(
    "schedule",
    [
        ConstantSchedule(0.2),
        LinearWarmup(0.1, warmup=7, start=0.6),
        StepSchedule(values=(0.4, 0.1, 0.3), milestones=(3, 9)),
        CosineSchedule(0.1, 0.7),
        CurriculumDropout(0.6, gamma=0.3),
        DropBlockRamp(0.3),
    ],
)
def test_every_value_lies_within_the_declared_bounds(schedule):
    low, high = schedule.bounds()
    values = [schedule(t, 20) for t in range(40)]
    assert low <= min(values) and max(values) <= high
    assert min(values) == pytest.approx(low, abs=0.05) and max(values) == pytest.approx(high, abs=0.05)


@pytest.mark.parametrize("schedule", [CosineSchedule(0.5), DropBlockRamp(0.1), CurriculumDropout(0.5)])
def test_a_schedule_that_depends_on_the_run_length_asks_for_it(schedule):
    with pytest.raises(InvalidArgumentError, match="`total`"):
        schedule(3)


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: LinearWarmup(0.5, warmup=-1), "warmup"),
        (lambda: LinearWarmup(float("nan"), warmup=3), "final"),
        (lambda: StepSchedule(values=(0.1, 0.2), milestones=(5, 10)), "values"),
        (lambda: StepSchedule(values=(0.1, 0.2, 0.3), milestones=(10, 5)), "milestones"),
        (lambda: CurriculumDropout(1.5), "p_final"),
        (lambda: CurriculumDropout(0.5, gamma=0.0), "gamma"),
        (lambda: ConstantSchedule(True), "value"),
    ],
)
def test_bad_schedule_arguments_are_refused_with_the_one_sentence(make, argument):
    with pytest.raises(InvalidArgumentError, match=f"argument `{argument}`"):
        make()


def test_drop_path_rates_are_linear_in_depth():
    assert reglab.drop_path_rates(0.3, 4) == pytest.approx([0.0, 0.1, 0.2, 0.3], abs=1e-7)
    assert reglab.drop_path_rates(0.2, [1, 2]) == pytest.approx([0.0, 0.1, 0.2], abs=1e-7)
    per_stage = reglab.drop_path_rates(0.2, [1, 2], per_stage=True)
    assert per_stage == [[0.0], pytest.approx([0.1, 0.2], abs=1e-7)]
    with pytest.raises(InvalidArgumentError, match="`rate`"):
        reglab.drop_path_rates(1.5, 3)
    with pytest.raises(InvalidArgumentError, match="`depths`"):
        reglab.drop_path_rates(0.1, 3, per_stage=True)


# -- the callback in fit ---------------------------------------------------------------------


class Probe(reglab.StochasticModule):
    """Records the drop probability it had at each training forward pass."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p
        self.seen: list[float] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.seen.append(self.p)
        return x


def _data(n: int = 12, batch_size: int = 4) -> BatchIterator:
    g = torch.Generator().manual_seed(0)
    return BatchIterator(torch.randn(n, 3, generator=g), torch.arange(n) % 2, batch_size=batch_size, seed=0)


def _fit(model: nn.Module, callbacks, epochs: int = 2, data=None):
    return fit(
        model,
        data if data is not None else _data(),
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=epochs,
        callbacks=callbacks,
        progress=False,
        device="cpu",
    )


def test_every_step_sets_p_before_each_step_and_logs_the_last_steps_value():
    probe = Probe()
    model = nn.Sequential(nn.Linear(3, 2), probe)
    history = _fit(model, [RegularizationSchedule(model, LinearWarmup(0.5, warmup=4), every="step")])
    # 3 batches x 2 epochs: steps 0..5
    assert probe.seen == pytest.approx([0.0, 0.125, 0.25, 0.375, 0.5, 0.5])
    assert history.column("p") == pytest.approx([0.25, 0.5])
    assert history.columns[-1] == "seconds" and "p" in history.columns


def test_every_epoch_uses_the_epoch_count_as_the_run_length():
    probe = Probe()
    model = nn.Sequential(nn.Linear(3, 2), probe)
    history = _fit(model, [RegularizationSchedule(model, CosineSchedule(0.4, 0.0), every="epoch")], epochs=3)
    expected = [0.2 * (1 + math.cos(math.pi * e / 3)) for e in range(3)]
    assert probe.seen == pytest.approx([v for v in expected for _ in range(3)])
    assert history.column("p") == pytest.approx(expected)


def test_the_step_schedule_knows_the_run_length_from_fit():
    probe = Probe()
    model = nn.Sequential(nn.Linear(3, 2), probe)
    _fit(model, [RegularizationSchedule(model, DropBlockRamp(0.6))], epochs=2)
    assert probe.seen == pytest.approx([0.1 * k for k in range(6)])  # total = 2 epochs x 3 batches


def test_the_column_reaches_metrics_csv_even_when_the_writer_runs_first(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), Probe())
    writer = MetricsWriter(RunDir(tmp_path))
    _fit(model, [writer, RegularizationSchedule(model, ConstantSchedule(0.3), name="drop_p")], epochs=2)
    header, *lines = (tmp_path / "metrics.csv").read_text().splitlines()
    column = header.split(",").index("drop_p")
    assert [float(line.split(",")[column]) for line in lines] == [0.3, 0.3]


def test_scales_give_each_module_its_share_of_the_value():
    blocks = [reglab.DropPath(0.0) for _ in range(3)]
    model = nn.Sequential(nn.Linear(3, 2), *blocks)
    schedule = RegularizationSchedule(blocks, ConstantSchedule(0.3), scales=reglab.drop_path_rates(1.0, 3))
    _fit(model, [schedule], epochs=1)
    assert [b.p for b in blocks] == pytest.approx([0.0, 0.15, 0.3])


def test_a_model_schedules_its_regularizer_modules_torch_ones_included():
    model = nn.Sequential(nn.Linear(3, 4), reglab.Dropout(0.1), nn.Dropout(0.1), nn.Linear(4, 2))
    schedule = RegularizationSchedule(model, ConstantSchedule(0.25))
    assert [type(m) for m in schedule.modules] == [reglab.Dropout, nn.Dropout]
    _fit(model, [schedule], epochs=1)
    assert model[1].p == 0.25 and model[2].p == 0.25


def test_a_schedule_outside_a_modules_range_is_refused_at_construction():
    model = nn.Sequential(nn.Linear(3, 2), reglab.GaussianDropout(0.2))
    with pytest.raises(InvalidArgumentError, match=r"argument `p`. Expected a float in \[0, 1\)"):
        RegularizationSchedule(model, LinearWarmup(1.0, warmup=3))  # Gaussian dropout refuses p = 1
    with pytest.raises(InvalidArgumentError, match="argument `p`"):
        RegularizationSchedule(model, CosineSchedule(1.5))
    noise = reglab.GaussianNoise(0.1)
    with pytest.raises(InvalidArgumentError, match="argument `std`"):
        RegularizationSchedule([noise], LinearWarmup(0.5, warmup=2, start=-0.1), attribute="std")
    with pytest.raises(InvalidArgumentError, match="`scales`"):
        RegularizationSchedule(model, ConstantSchedule(0.1), scales=[1.0, 1.0])


def test_a_model_without_regularizers_is_refused():
    with pytest.raises(InvalidArgumentError, match="`modules`"):
        RegularizationSchedule(nn.Linear(3, 2), ConstantSchedule(0.1))
    with pytest.raises(InvalidArgumentError, match="`every`"):
        RegularizationSchedule(reglab.Dropout(0.1), ConstantSchedule(0.1), every="batch")


def test_a_length_dependent_step_schedule_on_batches_without_len_asks_for_total():
    model = nn.Sequential(nn.Linear(3, 2), Probe())
    data = list(_data())

    def batches():
        yield from data

    class Unsized:
        def __iter__(self):
            return batches()

    with pytest.raises(ConfigError, match="total="):
        _fit(model, [RegularizationSchedule(model, CosineSchedule(0.5))], data=Unsized())
    probe = Probe()
    model = nn.Sequential(nn.Linear(3, 2), probe)
    _fit(model, [RegularizationSchedule(model, DropBlockRamp(0.3), total=3)], epochs=1, data=Unsized())
    assert probe.seen == pytest.approx([0.0, 0.1, 0.2])


def test_state_dict_resumes_the_schedule_where_it_stopped():
    probe = Probe()
    model = nn.Sequential(nn.Linear(3, 2), probe)
    first = RegularizationSchedule(model, CosineSchedule(0.0, 0.5), total=6)  # a 2-epoch run, stopped after 1
    _fit(model, [first], epochs=1)  # steps 0, 1, 2
    state = first.state_dict()
    assert state["t"] == 3 and state["total"] == 6

    probe.p = 0.0  # a fresh process: the attribute is not part of the model's state_dict
    resumed = RegularizationSchedule(model, CosineSchedule(0.0, 0.5))
    resumed.load_state_dict(state)
    assert probe.p == pytest.approx(0.25)
    probe.seen.clear()
    _fit(model, [resumed], epochs=1)
    assert probe.seen == pytest.approx([0.25 * (1 - math.cos(math.pi * t / 6)) for t in (3, 4, 5)])


@pytest.mark.parametrize("depths", [1, 2, 12, [2, 2, 6, 2]])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.37])
def test_drop_path_rates_equal_timms(rate, depths):
    timm_drop = helpers.timm_drop()
    assert reglab.drop_path_rates(rate, depths) == timm_drop.calculate_drop_path_rates(rate, depths)
    if isinstance(depths, list):
        assert reglab.drop_path_rates(rate, depths, per_stage=True) == timm_drop.calculate_drop_path_rates(
            rate, depths, stagewise=True
        )


def test_the_state_survives_a_weights_only_checkpoint(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), Probe())
    schedule = RegularizationSchedule(model, LinearWarmup(0.5, warmup=4))
    _fit(model, [schedule], epochs=1)
    torch.save({"schedule": schedule.state_dict()}, tmp_path / "ckpt.pt")
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)["schedule"]
    restored = RegularizationSchedule(model, LinearWarmup(0.5, warmup=4))
    restored.load_state_dict(state)
    assert restored.state_dict() == schedule.state_dict() and restored.value == 0.375
