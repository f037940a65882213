"""reglab's Lightning callbacks, with a real ``lightning.Trainer`` on the CPU for a few steps."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import reglab
from reglab.core.errors import ConfigError, ReglabError

pl = pytest.importorskip("lightning.pytorch", reason="the lightning extra is not installed")
from reglab.integrations.lightning import (  # noqa: E402  (after the skip)
    ConstraintCallback,
    MCDropoutCallback,
    PenaltyCallback,
    ScheduleCallback,
)

pytestmark = pytest.mark.lightning


class Probe(reglab.StochasticModule):
    """Records its drop probability at every training forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.p = 0.0
        self.seen: list[float] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.seen.append(self.p)
        return x


class Classifier(pl.LightningModule):
    def __init__(self, *, penalty: reglab.L2 | None = None, as_dict: bool = False, lr: float = 0.5) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), reglab.Dropout(0.5), Probe(), nn.Linear(16, 3))
        self.manual_penalty, self.as_dict, self.lr = penalty, as_dict, lr

    @property
    def probe(self) -> Probe:
        return self.net[3]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        if self.manual_penalty is not None:
            loss = loss + self.manual_penalty(self)
        return {"loss": loss} if self.as_dict else loss

    def predict_step(self, batch, batch_idx):
        return self(batch[0])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def _loader(n: int = 32, batch_size: int = 8) -> DataLoader:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 6, generator=g) * 3
    return DataLoader(TensorDataset(x, torch.arange(n) % 3), batch_size=batch_size)


def _trainer(tmp_path, callbacks, **kw) -> pl.Trainer:
    kw.setdefault("max_steps", 6)
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        callbacks=callbacks,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
        **kw,
    )


@pytest.fixture(autouse=True)
def _quiet_lightning():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(num_workers|does not have many workers|log_every_n_steps).*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")  # Lightning's own use of a torch deprecation
        yield


class CountingMaxNorm(reglab.MaxNorm):
    calls = 0

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        if w.dim() >= 2:
            CountingMaxNorm.calls += 1
        return super().__call__(w)


def test_the_constraint_holds_after_every_optimizer_step_and_only_after_steps(tmp_path):
    model = Classifier(lr=5.0)
    norms: list[float] = []

    class Watch(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            norms.append(max(m.weight.norm(dim=1).max().item() for m in pl_module.net if isinstance(m, nn.Linear)))

    CountingMaxNorm.calls = 0
    constraint = CountingMaxNorm(0.5)
    _trainer(tmp_path, [ConstraintCallback(constraint), Watch()], max_steps=3, accumulate_grad_batches=2).fit(
        model, _loader()
    )
    assert len(norms) == 6 and max(norms[1::2]) <= 0.5 + 1e-6  # after each of the 3 steps
    assert CountingMaxNorm.calls == 3 * 2  # 3 steps x 2 weight matrices, none on the accumulating batches

    unconstrained = Classifier(lr=5.0)
    _trainer(tmp_path, [], max_steps=3).fit(unconstrained, _loader())
    assert unconstrained.net[0].weight.norm(dim=1).max().item() > 0.5  # the constraint did something


def test_the_penalty_is_added_to_the_training_loss_like_a_hand_written_one(tmp_path):
    by_hand = Classifier(penalty=reglab.L2(0.1))
    _trainer(tmp_path, []).fit(by_hand, _loader())
    for as_dict in (False, True):
        model = Classifier(as_dict=as_dict)
        trainer = _trainer(tmp_path, [PenaltyCallback(reglab.L2(0.1))])
        trainer.fit(model, _loader())
        for ours, theirs in zip(model.parameters(), by_hand.parameters()):
            assert torch.equal(ours, theirs)
        assert "training_step" not in vars(model)  # unwrapped after fit
        assert trainer.callback_metrics["penalty"] > 0
    plain = Classifier()
    _trainer(tmp_path, []).fit(plain, _loader())
    assert not torch.equal(plain.net[0].weight, by_hand.net[0].weight)


def test_the_penalty_refuses_manual_optimization(tmp_path):
    class Manual(Classifier):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False

    with pytest.raises(ConfigError, match="manual_backward"):
        _trainer(tmp_path, [PenaltyCallback(reglab.L2(0.1))]).fit(Manual(), _loader())


def test_a_step_schedule_follows_the_optimizer_steps_and_is_logged(tmp_path):
    model = Classifier()
    schedule = reglab.RegularizationSchedule([model.probe], reglab.LinearWarmup(0.5, warmup=4))
    trainer = _trainer(tmp_path, [ScheduleCallback(schedule)], max_steps=3, accumulate_grad_batches=2)
    trainer.fit(model, _loader())
    # 6 batches, 3 optimizer steps: the value changes every second batch
    assert model.probe.seen == pytest.approx([0.0, 0.0, 0.125, 0.125, 0.25, 0.25])
    assert trainer.callback_metrics["p"].item() == pytest.approx(0.25)
    assert schedule.total == 3  # trainer.estimated_stepping_batches


def test_an_epoch_schedule_uses_max_epochs_and_resumes_from_its_state(tmp_path):
    model = Classifier()
    schedule = reglab.RegularizationSchedule([model.probe], reglab.DropBlockRamp(0.3), every="epoch", name="probe_p")
    callback = ScheduleCallback(schedule)
    trainer = _trainer(tmp_path, [callback], max_steps=-1, max_epochs=3)
    trainer.fit(model, _loader(n=16))
    assert model.probe.seen == pytest.approx([0.0, 0.0, 0.1, 0.1, 0.2, 0.2])
    assert trainer.callback_metrics["probe_p"].item() == pytest.approx(0.2)
    state = callback.state_dict()
    restored = ScheduleCallback(
        reglab.RegularizationSchedule([model.probe], reglab.DropBlockRamp(0.3), every="epoch", name="probe_p")
    )
    restored.load_state_dict(state)
    assert restored.schedule.total == 3 and model.probe.p == pytest.approx(0.2)


def test_mc_dropout_prediction_keeps_dropout_on_in_lightnings_predict_loop(tmp_path):
    model = Classifier()
    loader = DataLoader(TensorDataset(torch.randn(10, 6)), batch_size=5)
    plain = [torch.cat(_trainer(tmp_path, []).predict(model, loader)) for _ in range(2)]
    assert torch.equal(plain[0], plain[1])  # Lightning predicts in eval mode: deterministic

    sampled = [torch.cat(_trainer(tmp_path, [MCDropoutCallback()]).predict(model, loader)) for _ in range(2)]
    assert not torch.equal(sampled[0], sampled[1])

    model.eval()
    model.net[2].train()  # a mode of the caller's own, which predict must leave as it found it
    flags = [m.training for m in model.modules()]
    batches = _trainer(tmp_path, [MCDropoutCallback(8, transform=lambda z: z.softmax(-1))]).predict(model, loader)
    prediction = batches[0]
    assert isinstance(prediction, reglab.MCPrediction)
    assert prediction.samples.shape == (8, 5, 3) and (prediction.std > 0).any()
    assert torch.allclose(prediction.mean.sum(-1), torch.ones(5))
    assert [m.training for m in model.modules()] == flags and "predict_step" not in vars(model)  # restored


def test_mc_prediction_without_dropout_is_an_error(tmp_path):
    class NoDropout(Classifier):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(6, 3))

    loader = DataLoader(TensorDataset(torch.randn(4, 6)), batch_size=4)
    with pytest.raises(ReglabError, match="MC dropout needs active dropout"):
        _trainer(tmp_path, [MCDropoutCallback(4)]).predict(NoDropout(), loader)


def test_bad_callback_arguments_are_refused():
    with pytest.raises(reglab.InvalidArgumentError, match="`penalty`"):
        PenaltyCallback(0.1)
    with pytest.raises(reglab.InvalidArgumentError, match="`samples`"):
        MCDropoutCallback(1)
    with pytest.raises(reglab.InvalidArgumentError, match="`schedule`"):
        ScheduleCallback(reglab.LinearWarmup(0.5, warmup=3))
    with pytest.raises(reglab.InvalidArgumentError, match="`constraint`"):
        ConstraintCallback(3.0)
