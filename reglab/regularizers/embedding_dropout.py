"""Embedding dropout: drop whole words (rows of the embedding table).

Gal and Ghahramani, 2016, "A Theoretically Grounded Application of Dropout in
Recurrent Neural Networks" (dropout on the word embeddings, section 4.2), and
Merity, Keskar and Socher, 2017, "Regularizing and Optimizing LSTM Language
Models" (AWD-LSTM), whose ``embedded_dropout`` fastai ships as
``EmbeddingDropout``. Each forward pass drops every row of the
``(num_embeddings, embedding_dim)`` table with probability ``p``: a dropped
word is a zero vector wherever it occurs in the batch (every occurrence, every
time step), which dropout on the looked-up vectors cannot do.

Convention: ``p`` is the **drop** probability, as everywhere in reglab. Kept
rows are scaled by ``1 / (1 - p)`` (inverted dropout), so the expected table
is the table itself; eval mode and ``p = 0`` run the wrapped embedding
unchanged; ``p = 1`` zeros the table. The row mask is exactly
``reglab.keep_mask((num_embeddings, 1), p, generator=...)``: this is
:func:`reglab.dropout` of the weight with ``noise_shape=(None, 1)``, so the
same generator state gives the same mask on the same device, and under
``torch.compile`` without a generator the mask comes from the compiled graph's
random stream (no graph break).

:class:`EmbeddingDropout` is functional, like :class:`reglab.DropConnect`: it
calls ``torch.nn.functional.embedding`` with the masked table and the wrapped
embedding's own settings and never replaces its ``Parameter``; ``state_dict``
holds the embedding's keys under ``module.``; gradients reach the original
weight masked and scaled (a dropped row gets exactly 0), sparse gradients
included. As in fastai, the masked table is a full copy made each forward pass.

``max_norm``: as ``nn.Embedding`` does, the looked-up rows of the **original**
weight are renormalised in place to norm at most ``max_norm`` (under
``no_grad``, in training and in eval alike); the mask and the scale are applied
after, so a kept row has norm at most ``max_norm / (1 - p)``. (fastai's
``EmbeddingDropout`` instead renormalises the masked copy, leaving the weight
untouched.)

Shapes: ``weight`` is ``(num_embeddings, embedding_dim)``, the row mask
``(num_embeddings, 1)``; :class:`EmbeddingDropout` maps indices ``(*)`` to
``(*, embedding_dim)``, as ``nn.Embedding`` does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core.checks import check_generator, check_probability, invalid_argument
from .base import StochasticModule, TensorSummary
from .inverted_dropout import broadcast_dropout

__all__ = ["embedding_dropout_weight", "EmbeddingDropout"]

_WEIGHT_EXPECTED = "a 2-D (num_embeddings, embedding_dim) tensor"


def embedding_dropout_weight(
    weight: torch.Tensor, p: float = 0.1, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``weight * row_mask / (1 - p)``: zero whole rows with probability ``p``, scale the rest.

    Differentiable: the gradient reaching ``weight`` is the upstream gradient
    times ``row_mask / (1 - p)``, so a dropped row gets exactly 0.

    Args:
        weight: an embedding table ``(num_embeddings, embedding_dim)``, floating
            point, on any device.
        p: drop probability of each row, ``0 <= p <= 1``.
        generator: the ``torch.Generator`` for the mask (on ``weight``'s device).

    Returns:
        A tensor of ``weight``'s shape, dtype and device (``weight`` itself when
        ``p == 0``; zeros when ``p == 1``). The row mask is
        ``keep_mask((num_embeddings, 1), p, generator=generator)``.
    """
    p = check_probability("p", p)
    generator = check_generator("generator", generator)
    if not isinstance(weight, torch.Tensor):
        raise invalid_argument("weight", _WEIGHT_EXPECTED, weight)
    if weight.dim() != 2:
        raise invalid_argument("weight", _WEIGHT_EXPECTED, TensorSummary(weight))
    return _embedding_dropout_weight(weight, p, generator)


def _embedding_dropout_weight(weight: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
    # One mask value per row, broadcast over the embedding dimension.
    return broadcast_dropout(weight, p, False, torch.Size((weight.shape[0], 1)), generator)


class EmbeddingDropout(StochasticModule):
    """Wrap an ``nn.Embedding`` so that whole rows (words) of its table are dropped in training.

    fastai's ``EmbeddingDropout(emb, embed_p)`` and AWD-LSTM's
    ``embedded_dropout``, with reglab's conventions (see :mod:`reglab.embedding`).

    Args:
        embedding: the ``nn.Embedding`` to wrap (kept as ``self.module``; its
            weight is used as it is, never replaced). Its ``padding_idx``,
            ``max_norm``, ``norm_type``, ``scale_grad_by_freq`` and ``sparse``
            all apply.
        p: drop probability of each row, ``0 <= p <= 1``.
        generator: optional ``torch.Generator`` for reproducible masks.

    Shape: indices ``(*)`` (int or long), output ``(*, embedding_dim)``.
    """

    def __init__(self, embedding: nn.Embedding, p: float = 0.1, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if not isinstance(embedding, nn.Embedding):
            raise invalid_argument("embedding", "an nn.Embedding", type(embedding).__name__)
        self.module = embedding
        self.p = check_probability("p", p)
        self.generator = check_generator("generator", generator)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if (
            not isinstance(input, torch.Tensor)
            or input.is_floating_point()
            or input.is_complex()
            or input.dtype == torch.bool
        ):
            raise invalid_argument("input", "a tensor of integer indices", input)
        if not self.training or self.p == 0.0:
            out: torch.Tensor = self.module(input)
            return out
        m = self.module
        if m.max_norm is not None:
            # What F.embedding does to the table it is given (in place, outside
            # autograd), done to the original weight as nn.Embedding's forward
            # does, before the mask.
            input = input.contiguous()
            torch.embedding_renorm_(m.weight.detach(), input, m.max_norm, m.norm_type)
        weight = _embedding_dropout_weight(m.weight, self.p, self.generator)
        return F.embedding(input, weight, m.padding_idx, None, m.norm_type, m.scale_grad_by_freq, m.sparse)

    def extra_repr(self) -> str:
        return f"p={self.p}"
