"""Embedding dropout against ``F.embedding`` with the same row mask, in float64.

The reference row mask is redrawn with ``reglab.keep_mask((num_embeddings, 1), p)``
from the same generator seed, so forward values and gradients are compared
exactly; the row keep rate is checked within 5 binomial standard errors.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reglab.core.errors import InvalidArgumentError
from reglab.regularizers.embedding_dropout import EmbeddingDropout, embedding_dropout_weight
from reglab.regularizers.masks import keep_mask
from reglab.regularizers.mc_prediction import mc_mode, mc_predict
from tests.helpers import K, gen


def _indices(num_embeddings: int, shape: tuple[int, ...], seed: int = 1) -> torch.Tensor:
    idx = torch.randint(0, num_embeddings, shape, generator=gen(seed))
    idx.view(-1)[:4] = torch.tensor([0, 3, 3, 0])  # the padding row and a repeated word
    return idx


def test_weight_equals_the_closed_form_values_and_gradients():
    p = 0.4
    w = torch.randn(50, 6, dtype=torch.float64, generator=gen(2), requires_grad=True)
    out = embedding_dropout_weight(w, p, generator=gen(3))
    upstream = torch.randn(out.shape, dtype=torch.float64, generator=gen(4))
    out.backward(upstream)

    mask = keep_mask((50, 1), p, generator=gen(3))
    assert 0 < mask.sum() < 50  # some rows kept, some dropped
    w_ref = w.detach().clone().requires_grad_(True)
    expected = w_ref * mask / (1 - p)
    expected.backward(upstream)
    torch.testing.assert_close(out, expected, rtol=1e-15, atol=0.0)
    torch.testing.assert_close(w.grad, w_ref.grad, rtol=1e-15, atol=0.0)
    assert (w.grad[~mask.squeeze(1)] == 0).all()  # a dropped row gets exactly zero


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_whole_rows_are_kept_at_rate_one_minus_p_and_scaled(p):
    n = 1 << 16
    out = embedding_dropout_weight(torch.ones(n, 3, dtype=torch.float64), p, generator=gen(5))
    assert torch.equal(out, out[:, :1].expand(n, 3))  # one decision per row, not per element
    kept = out[:, 0] != 0
    assert torch.equal(out[kept], torch.full_like(out[kept], 1 / (1 - p)))
    assert abs(kept.double().mean().item() - (1 - p)) < K * math.sqrt(p * (1 - p) / n)


SETTINGS = {
    "plain": {},
    "padding_idx": {"padding_idx": 0},
    "scale_grad_by_freq": {"scale_grad_by_freq": True},
    "sparse": {"sparse": True, "padding_idx": 3},
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_forward_and_gradients_equal_f_embedding_with_the_masked_table(name):
    settings = SETTINGS[name]
    p = 0.4
    torch.manual_seed(0)
    embedding = nn.Embedding(20, 5, **settings).double()
    idx = _indices(20, (3, 7))
    wrapped = EmbeddingDropout(embedding, p, generator=gen(9))
    out = wrapped(idx)
    assert out.shape == (3, 7, 5)
    upstream = torch.randn(out.shape, dtype=torch.float64, generator=gen(2))
    out.backward(upstream)

    mask = keep_mask((20, 1), p, generator=gen(9))
    w = embedding.weight.detach().clone().requires_grad_(True)
    expected = F.embedding(idx, w * mask / (1 - p), **settings)
    expected.backward(upstream)
    torch.testing.assert_close(out, expected, rtol=1e-15, atol=0.0)
    grad, grad_ref = embedding.weight.grad, w.grad
    assert grad.is_sparse == grad_ref.is_sparse == settings.get("sparse", False)
    if grad.is_sparse:
        grad, grad_ref = grad.to_dense(), grad_ref.to_dense()
    torch.testing.assert_close(grad, grad_ref, rtol=1e-15, atol=0.0)
    dropped = ~mask.squeeze(1)
    assert dropped[idx].any() and (~dropped[idx]).any()  # the batch sees both
    assert (grad[dropped] == 0).all()
    # A dropped word is zero at every occurrence.
    assert (out[dropped[idx]] == 0).all()


def test_max_norm_renormalises_the_original_weight_in_place_as_nn_embedding_does():
    p, max_norm = 0.5, 1.0
    torch.manual_seed(0)
    embedding = nn.Embedding(20, 5, max_norm=max_norm).double()
    with torch.no_grad():
        embedding.weight.mul_(3.0)  # most rows above max_norm
    before = embedding.weight.detach().clone()
    twin = copy.deepcopy(embedding)
    idx = _indices(20, (4, 6))
    out = EmbeddingDropout(embedding, p, generator=gen(9))(idx)
    twin(idx)  # nn.Embedding renormalises its own weight's looked-up rows in place
    assert not torch.equal(embedding.weight, before)
    assert (embedding.weight[idx.unique()].norm(dim=-1) <= max_norm * (1 + 1e-6)).all()
    torch.testing.assert_close(embedding.weight, twin.weight, rtol=0.0, atol=0.0)
    mask = keep_mask((20, 1), p, generator=gen(9))
    torch.testing.assert_close(out, F.embedding(idx, twin.weight * mask / (1 - p)), rtol=1e-15, atol=0.0)
    assert (out.norm(dim=-1) <= max_norm / (1 - p) * (1 + 1e-6)).all()
    assert (out.norm(dim=-1) > max_norm * 1.5).any()  # kept rows are scaled after the renorm


def test_p0_p1_and_eval_mode_run_the_embedding_unchanged():
    w = torch.randn(6, 3)
    assert embedding_dropout_weight(w, 0.0) is w
    assert torch.equal(embedding_dropout_weight(w, 1.0), torch.zeros_like(w))
    embedding = nn.Embedding(10, 4)
    idx = _indices(10, (2, 5))
    g = gen(7)
    state = g.get_state()
    wrapped = EmbeddingDropout(embedding, 0.5, generator=g).eval()
    assert torch.equal(wrapped(idx), embedding(idx))
    assert torch.equal(g.get_state(), state)  # no mask drawn in eval
    assert torch.equal(EmbeddingDropout(embedding, 0.0)(idx), embedding(idx))
    assert torch.equal(EmbeddingDropout(embedding, 1.0)(idx), torch.zeros(2, 5, 4))


def test_the_same_generator_state_gives_the_same_mask_and_each_call_a_fresh_one():
    embedding = nn.Embedding(64, 4)
    idx = torch.arange(64)
    a = EmbeddingDropout(embedding, 0.5, generator=gen(1))
    b = EmbeddingDropout(embedding, 0.5, generator=gen(1))
    first = a(idx)
    assert torch.equal(first, b(idx))
    assert not torch.equal(first, a(idx))
    mask = keep_mask((64, 1), 0.5, generator=gen(1))
    assert torch.equal(first != 0, mask.expand(64, 4) & (embedding.weight != 0))


def test_parameters_and_state_dict_are_the_embeddings():
    embedding = nn.Embedding(10, 4, padding_idx=1)
    wrapped = EmbeddingDropout(embedding, 0.5)
    assert list(wrapped.state_dict()) == ["module.weight"]
    assert [id(q) for q in wrapped.parameters()] == [id(embedding.weight)]
    wrapped(torch.arange(10)).sum().backward()  # a forward pass replaces nothing
    assert type(embedding.weight) is nn.Parameter and list(wrapped.state_dict()) == ["module.weight"]
    other = EmbeddingDropout(nn.Embedding(10, 4, padding_idx=1), 0.5)
    other.load_state_dict(wrapped.state_dict())
    assert torch.equal(other.module.weight, embedding.weight)


def test_mc_mode_switches_embedding_dropout_on():
    torch.manual_seed(0)
    model = nn.Sequential(EmbeddingDropout(nn.Embedding(200, 3), 0.5), nn.Flatten(), nn.Linear(3 * 8, 2)).eval()
    idx = torch.randint(0, 200, (4, 8), generator=gen(2))
    deterministic = model(idx)
    with mc_mode(model):
        assert model[0].training and not model[0].module.training
        out = model[0](idx)
        assert (out == 0).all(-1).any()  # some words dropped
    assert not model[0].training and torch.equal(model(idx), deterministic)
    pred = mc_predict(model, idx, samples=8, generator=gen(3))
    assert (pred.std > 0).all()


def test_bad_arguments():
    with pytest.raises(
        InvalidArgumentError,
        match=r"^Invalid value received for argument `embedding`\. Expected an "
        r"nn\.Embedding\. Received: embedding='EmbeddingBag'$",
    ):
        EmbeddingDropout(nn.EmbeddingBag(4, 2))
    with pytest.raises(
        InvalidArgumentError,
        match=r"^Invalid value received for argument `p`\. Expected a float "
        r"between 0 and 1\. Received: p=1\.5$",
    ):
        EmbeddingDropout(nn.Embedding(4, 2), 1.5)
    with pytest.raises(
        InvalidArgumentError,
        match=r"^Invalid value received for argument `generator`\. Expected a "
        r"torch\.Generator or None\. Received: generator=0$",
    ):
        EmbeddingDropout(nn.Embedding(4, 2), 0.1, generator=0)
    with pytest.raises(
        InvalidArgumentError,
        match=r"^Invalid value received for argument `weight`\. Expected a 2-D "
        r"\(num_embeddings, embedding_dim\) tensor\. Received: weight=<1-D tensor of shape \(4,\)>$",
    ):
        embedding_dropout_weight(torch.ones(4), 0.1)
    with pytest.raises(
        InvalidArgumentError,
        match=r"argument `p`\. Expected a float between 0 and 1\. "
        r"Received: p=True$",
    ):
        embedding_dropout_weight(torch.ones(4, 2), True)
    assert "p=0.25" in repr(EmbeddingDropout(nn.Embedding(4, 2), 0.25))
