"""The dropout family under ``torch.compile``: traced whole (no graph break), same contract.

Without a generator the masks come from one ``torch.randint`` draw that the
compiler traces, so they are not the eager masks (as with torch's own dropout
under compile); the statistics, the scaling and the gradient are checked
instead. With a generator the eager mask is kept (one graph break). The
``aot_eager`` backend traces exactly what inductor would, without a C++ compiler.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import reglab
from reglab import keep_mask
from tests.helpers import K


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _compiled(module: nn.Module) -> nn.Module:
    return torch.compile(module, backend="aot_eager", fullgraph=True)


@pytest.mark.parametrize(
    "module, shape",
    [
        (reglab.Dropout(0.3), (8, 16)),
        (reglab.Dropout(0.3, noise_shape=(None, 1)), (8, 16)),
        (reglab.VanillaDropout(0.3), (8, 16)),
        (reglab.Dropout2d(0.3), (2, 4, 5, 5)),
        (reglab.LockedDropout(0.3), (5, 2, 4)),
        (reglab.GaussianDropout(0.3), (8, 16)),
        (reglab.GaussianNoise(0.1), (8, 16)),
        (reglab.AlphaDropout(0.3), (8, 16)),
        (reglab.FeatureAlphaDropout(0.3), (2, 4, 5, 5)),
        (reglab.DropPath(0.3), (8, 16)),
        (reglab.DropBlock2d(0.3, block_size=3), (2, 4, 8, 8)),
        (reglab.DropBlock2d(0.3, block_size=3, batchwise=True, with_noise=True), (2, 4, 8, 8)),
        (reglab.DropConnect(nn.Linear(16, 16), 0.3), (8, 16)),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "",
)
def test_compiles_as_one_graph_and_is_random_in_training_only(module, shape):
    x = torch.randn(shape, requires_grad=True)
    compiled = _compiled(module)
    out = compiled(x)
    out.sum().backward()  # fullgraph=True: any graph break would have raised
    assert out.shape == x.shape and x.grad is not None
    assert not torch.equal(out, compiled(x))  # a fresh draw each call
    module.eval()
    assert torch.equal(compiled(x), module(x))  # the eager eval output (vanilla's is (1 - p) * x)


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_compiled_dropout_keeps_one_minus_p_and_scales_survivors_and_gradients(p):
    n = (1 << 18) + 1000  # above the eager chunked path's threshold: compiled, one draw
    x = (torch.rand(n, dtype=torch.float64) + 0.5).requires_grad_()
    out = _compiled(reglab.Dropout(p))(x)
    out.backward(torch.ones(n, dtype=torch.float64))
    kept = out.detach() != 0
    q = 1.0 - p
    assert abs(kept.double().mean().item() - q) < K * math.sqrt(p * q / n)
    assert torch.equal(out.detach()[kept], x.detach()[kept] * (1.0 / q))
    assert torch.equal(x.grad, kept.double() * (1.0 / q))


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_compiled_vanilla_dropout_keeps_one_minus_p_unscaled_and_scales_by_one_minus_p_in_eval(p):
    n = (1 << 18) + 1000
    x = (torch.rand(n, dtype=torch.float64) + 0.5).requires_grad_()
    module = reglab.VanillaDropout(p)
    compiled = _compiled(module)
    out = compiled(x)
    out.backward(torch.ones(n, dtype=torch.float64))
    kept = out.detach() != 0
    q = 1.0 - p
    assert abs(kept.double().mean().item() - q) < K * math.sqrt(p * q / n)
    assert torch.equal(out.detach()[kept], x.detach()[kept])  # survivors pass unscaled
    assert torch.equal(x.grad, kept.double())
    module.eval()
    x.grad = None
    evaluated = compiled(x)
    evaluated.backward(torch.ones(n, dtype=torch.float64))
    assert torch.equal(evaluated.detach(), x.detach() * q)  # the training output's expectation
    assert torch.equal(x.grad, torch.full_like(x.grad, q))


def test_compiled_dropout_at_p_near_one_drops_everything():
    x = torch.ones(1000)
    assert _compiled(reglab.Dropout(1.0 - 2.0**-40))(x).abs().sum().item() == 0.0


def test_compiled_dropout_with_a_generator_draws_the_eager_mask():
    x = torch.randn(300, 70)
    g = torch.Generator().manual_seed(4)
    out = torch.compile(reglab.Dropout(0.4, generator=g), backend="aot_eager")(x)
    mask = keep_mask(x.shape, 0.4, generator=torch.Generator().manual_seed(4))
    assert torch.equal(out, x * mask * (1.0 / 0.6))


def test_embedding_dropout_compiles_as_one_graph_and_drops_whole_rows():
    p, n = 0.5, 256
    embedding = reglab.EmbeddingDropout(nn.Embedding(n, 4), p)
    idx = torch.arange(n).view(8, 32)
    compiled = _compiled(embedding)
    out = compiled(idx)
    out.sum().backward()  # fullgraph=True: any graph break would have raised
    weight = embedding.module.weight
    kept = weight.grad[:, 0] != 0
    # The gradient of a looked-up row is the row mask times 1/(1-p): whole rows, scaled.
    assert torch.equal(weight.grad, kept.float()[:, None].expand(n, 4) * (1.0 / (1.0 - p)))
    assert torch.equal(out.detach().view(n, 4), weight.detach() * weight.grad)
    assert abs(kept.double().mean().item() - (1.0 - p)) < K * math.sqrt(p * (1.0 - p) / n)
    assert not torch.equal(out, compiled(idx))  # a fresh draw each call
    embedding.eval()
    assert torch.equal(compiled(idx), embedding.module(idx))
