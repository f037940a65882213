"""MC dropout: mc_mode / mc_predict / predictive_entropy.

The statistical test uses the closed-form variance of a dropout + linear model
(k = 5 standard errors of the mean of S samples, fixed seed).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from reglab.core.errors import InvalidArgumentError, ReglabError
from reglab.regularizers.drop_connect import DropConnect
from reglab.regularizers.inverted_dropout import Dropout
from reglab.regularizers.mc_prediction import MCPrediction, mc_mode, mc_predict, predictive_entropy
from reglab.regularizers.stochastic_depth import DropPath
from tests.helpers import K, gen, needs_cuda


@pytest.mark.parametrize("dropout", [nn.Dropout, Dropout])
@pytest.mark.parametrize("batch_size", [None, 3])
def test_mc_mean_of_dropout_linear_model_equals_eval_output(dropout, batch_size):
    p, d, k, n, samples = 0.3, 16, 3, 5, 1000
    torch.manual_seed(0)
    linear = nn.Linear(d, k).double()
    model = nn.Sequential(dropout(p), linear)
    x = torch.randn(n, d, dtype=torch.float64)
    model.eval()
    deterministic = model(x).detach()
    pred = mc_predict(model, x, samples, batch_size=batch_size, generator=gen(1))
    assert isinstance(pred, MCPrediction)
    assert pred.samples.shape == (samples, n, k) and pred.mean.shape == pred.std.shape == (n, k)
    # y_j = sum_i W_ji x_i m_i / (1-p) + b_j, m_i ~ Bernoulli(1-p) independent:
    # Var y_j = p / (1-p) * sum_i W_ji^2 x_i^2.
    var = p / (1 - p) * (x**2) @ (linear.weight.detach() ** 2).T
    assert (pred.std > 0).all()
    assert ((pred.mean - deterministic).abs() < K * (var / samples).sqrt()).all()
    torch.testing.assert_close(pred.mean, pred.samples.mean(0))
    torch.testing.assert_close(pred.std, pred.samples.std(0))
    assert not pred.samples.requires_grad


def _mixed_model() -> nn.Sequential:
    model = nn.Sequential(
        nn.Linear(4, 8),
        nn.BatchNorm1d(8),
        nn.Dropout(0.5),
        nn.Linear(8, 8),
        DropConnect(nn.Linear(8, 8), 0.2),
        DropPath(0.1),
        nn.Dropout2d(0.0),
        nn.Linear(8, 3),
    )
    # An unusual mix of modes that must come back exactly.
    model.train()
    model[1].eval()
    model[3].eval()
    model[4].module.eval()
    return model


def test_mc_mode_turns_on_only_dropout_modules_and_restores_every_flag():
    model = _mixed_model()
    before = [m.training for m in model.modules()]
    with mc_mode(model) as same:
        assert same is model
        on = {name for name, m in model.named_modules() if m.training}
    assert on == {"2", "4", "5", "6"}  # Dropout, DropConnect (not its Linear), DropPath, Dropout2d
    assert [m.training for m in model.modules()] == before


def test_modes_are_restored_when_the_forward_raises():
    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    model = nn.Sequential(nn.Dropout(0.5), Boom())
    model.train()
    model[1].eval()
    with pytest.raises(RuntimeError, match="boom"):
        mc_predict(model, torch.ones(2, 2))
    assert [m.training for m in model.modules()] == [True, True, False]


def test_batchnorm_stays_in_eval_and_its_running_stats_are_unchanged():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2)).train()
    model(torch.randn(32, 4))  # move the running statistics away from their initial values
    bn = model[1]
    stats = [bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone()]
    seen = []
    handle = bn.register_forward_hook(lambda mod, inp, out: seen.append(out.clone()))
    x = torch.randn(6, 4)
    mc_predict(model, x, 5, generator=gen(0))
    handle.remove()
    assert torch.equal(bn.running_mean, stats[0]) and torch.equal(bn.running_var, stats[1])
    assert torch.equal(bn.num_batches_tracked, stats[2])
    model.eval()
    with torch.no_grad():
        eval_bn = bn(model[0](x))
    assert len(seen) == 5 and all(torch.equal(s, eval_bn) for s in seen)
    assert model.training is False and bn.training is False


def test_error_without_active_dropout():
    with pytest.raises(ReglabError, match="has no dropout module"):
        mc_predict(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)), torch.ones(3, 2))
    with pytest.raises(ReglabError, match="has only dropout modules with p = 0"):
        mc_predict(nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.0), Dropout(0.0)), torch.ones(3, 2))
    # DropConnect counts as dropout.
    pred = mc_predict(nn.Sequential(DropConnect(nn.Linear(2, 2), 0.5)), torch.ones(3, 2), 4)
    assert pred.samples.shape == (4, 3, 2)


def test_generator_makes_it_reproducible_and_leaves_the_global_rng_alone():
    model = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.5), nn.Linear(16, 3), Dropout(0.2))
    x = torch.randn(5, 4)
    state = torch.get_rng_state()
    a = mc_predict(model, x, 8, generator=gen(3))
    assert torch.equal(torch.get_rng_state(), state)
    b = mc_predict(model, x, 8, generator=gen(3))
    c = mc_predict(model, x, 8, generator=gen(4))
    assert torch.equal(a.samples, b.samples)
    assert not torch.equal(a.samples, c.samples)


def test_transform_is_applied_to_each_sample_before_averaging():
    model = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.5), nn.Linear(16, 3))
    x = torch.randn(5, 4)
    logits = mc_predict(model, x, 6, generator=gen(2))
    probs = mc_predict(model, x, 6, transform=lambda z: z.softmax(-1), generator=gen(2))
    torch.testing.assert_close(probs.samples, logits.samples.softmax(-1))
    torch.testing.assert_close(probs.mean, logits.samples.softmax(-1).mean(0))
    assert not torch.allclose(probs.mean, logits.mean.softmax(-1))  # averaging probabilities, not logits


def test_predictive_entropy_closed_forms():
    k = 4
    uniform = torch.full((3, k), 1 / k, dtype=torch.float64)
    torch.testing.assert_close(predictive_entropy(uniform), torch.full((3,), math.log(k), dtype=torch.float64))
    one_hot = torch.eye(k, dtype=torch.float64)
    assert torch.equal(predictive_entropy(one_hot), torch.zeros(k, dtype=torch.float64))
    # Two confident samples that disagree: the mean is (1/2, 1/2, 0, 0).
    disagree = torch.stack([one_hot[:1], one_hot[1:2]])
    torch.testing.assert_close(predictive_entropy(disagree), torch.tensor([math.log(2)], dtype=torch.float64))
    probs = torch.randn(7, 5, k, dtype=torch.float64, generator=gen(1)).softmax(-1)
    mean = probs.mean(0)
    torch.testing.assert_close(predictive_entropy(probs), -(mean * mean.log()).sum(-1))


def test_bad_arguments():
    model = nn.Sequential(nn.Dropout(0.5))
    with pytest.raises(
        InvalidArgumentError, match=r"argument `samples`\. Expected an integer >= 2\. Received: samples=1"
    ):
        mc_predict(model, torch.ones(2, 2), 1)
    with pytest.raises(InvalidArgumentError, match="argument `batch_size`"):
        mc_predict(model, torch.ones(2, 2), batch_size=0)
    with pytest.raises(InvalidArgumentError, match="argument `transform`"):
        mc_predict(model, torch.ones(2, 2), transform=3)
    with pytest.raises(InvalidArgumentError, match="argument `model`"), mc_mode(torch.ones(2)):
        pass
    with pytest.raises(InvalidArgumentError, match=r"argument `probs`.*apply softmax to logits first"):
        predictive_entropy(torch.randn(4, 3, generator=gen(0)))
    with pytest.raises(InvalidArgumentError, match=r"argument `probs`.*Received: probs\.shape=\(3,\)"):
        predictive_entropy(torch.ones(3) / 3)


@needs_cuda
def test_cuda_generator_reproducible():
    model = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.5), nn.Linear(16, 3)).cuda()
    x = torch.randn(5, 4, device="cuda")
    a = mc_predict(model, x, 4, generator=gen(1, "cuda"))
    b = mc_predict(model, x, 4, generator=gen(1, "cuda"))
    assert a.mean.device == x.device and torch.equal(a.samples, b.samples)


# --- torch layers that apply dropout themselves, and the transformer fast path ---


def test_transformer_encoder_layer_is_random_under_mc_and_computes_its_training_forward():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, dropout=0.3, batch_first=True)
    layer.eval()
    x = torch.randn(4, 5, 16)
    # In eval mode under no_grad torch takes a fast path that skips the layer's dropout
    # modules: the samples would be identical and the spread exactly zero.
    pred = mc_predict(layer, x, 4, generator=gen(0))
    assert pred.std.min() > 0
    with torch.no_grad():
        with mc_mode(layer):
            torch.manual_seed(3)
            mc = layer(x)
        layer.train()
        torch.manual_seed(3)
        trained = layer(x)
        layer.eval()
    assert torch.equal(mc, trained)
    assert not any(m.training for m in layer.modules())


def test_multihead_attention_dropout_is_switched_on():
    torch.manual_seed(0)
    attention = nn.MultiheadAttention(16, 2, dropout=0.5, batch_first=True).eval()
    x = torch.randn(3, 6, 16)
    with torch.no_grad():
        with mc_mode(attention):
            torch.manual_seed(5)
            mc = attention(x, x, x)[0]
        attention.train()
        torch.manual_seed(5)
        trained = attention(x, x, x)[0]
        attention.eval()
        deterministic = attention(x, x, x)[0]
    assert torch.equal(mc, trained) and not torch.equal(mc, deterministic)
    with pytest.raises(ReglabError, match="no dropout module"), mc_mode(nn.Sequential(nn.Linear(2, 2))):
        pass
    with pytest.raises(ReglabError, match="p = 0"), mc_mode(nn.MultiheadAttention(16, 2, dropout=0.0)):
        pass


class _LastStep(nn.Module):
    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0][:, -1]


def test_dropout_between_stacked_rnn_layers_is_switched_on():
    torch.manual_seed(0)
    model = _LastStep(nn.LSTM(4, 8, num_layers=2, dropout=0.5, batch_first=True)).eval()
    pred = mc_predict(model, torch.randn(3, 7, 4), 4, generator=gen(1))
    assert pred.std.min() > 0
    with pytest.warns(UserWarning, match="num_layers"):  # torch: dropout needs num_layers > 1
        single = _LastStep(nn.GRU(4, 8, num_layers=1, dropout=0.5, batch_first=True))
    with pytest.raises(ReglabError, match="p = 0"), mc_mode(single):  # a single layer drops nothing
        pass
