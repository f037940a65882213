"""Monte Carlo dropout: predictions and their spread from a dropout network.

Gal and Ghahramani, 2016, "Dropout as a Bayesian Approximation: Representing
Model Uncertainty in Deep Learning". At prediction time the dropout layers stay
random; ``S`` stochastic forward passes give ``S`` samples of the prediction,
whose mean is the MC estimate and whose standard deviation the spread.

Which layers are random. :func:`mc_mode` puts the whole model in eval mode,
then switches ON only the dropout family: every
:class:`reglab.drop.StochasticModule` (reglab's dropout, DropPath, DropBlock,
DropConnect...) and torch's ``nn.Dropout``, ``Dropout1d/2d/3d``,
``AlphaDropout`` and ``FeatureAlphaDropout``; torch's layers that apply
dropout themselves from a float attribute: ``nn.MultiheadAttention`` (attention
weights) and ``nn.RNN/LSTM/GRU`` (between stacked layers); and
``nn.TransformerEncoderLayer``, whose inference fast path (eval mode under
``no_grad``) would skip its dropout modules and silently give zero spread.
BatchNorm and every other layer stay in eval mode (BatchNorm uses, and does
not update, its running statistics). Only each such module's own flag is set,
not its children's. Dropout inside a custom layer
(``F.dropout(x, training=self.training)``) follows that layer, which stays in
eval mode, so it is off. Afterwards every module's ``training`` flag is
restored to what it was, even when the forward raises.

Convention: ``p`` is the **drop** probability. A model with no dropout module,
or only ones with ``p == 0``, has nothing random: that is an error
(:class:`reglab.errors.ReglabError`), not a silent zero spread.

Shapes: ``x`` is ``(N, *)``; ``samples`` is ``(S, N, *out)``; ``mean`` and
``std`` are ``(N, *out)``; :func:`predictive_entropy` maps ``(S, N, K)`` or
``(N, K)`` probabilities to ``(N,)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch
from torch import nn

from ..core.checks import check_generator, check_int, invalid_argument
from ..core.errors import InvalidArgumentError, ReglabError
from .base import StochasticModule

__all__ = ["DROPOUT_MODULES", "DROPOUT_OWNERS", "MCPrediction", "mc_mode", "mc_predict", "predictive_entropy"]

#: The module types :func:`mc_mode` switches on.
DROPOUT_MODULES: tuple[type[nn.Module], ...] = (
    StochasticModule,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)

#: torch layers that apply dropout themselves (a float ``dropout`` attribute,
#: used when training), which :func:`mc_mode` switches on too.
DROPOUT_OWNERS: tuple[type[nn.MultiheadAttention], type[nn.RNNBase]] = (nn.MultiheadAttention, nn.RNNBase)

# Layers whose eval-mode fast path bypasses their dropout modules: they train too.
_FAST_PATH_LAYERS: tuple[type[nn.Module], ...] = (nn.TransformerEncoderLayer,)


class MCPrediction(NamedTuple):
    """The result of :func:`mc_predict`.

    Attributes:
        mean: ``(N, *out)``, the average of the samples.
        std: ``(N, *out)``, their standard deviation (with Bessel's correction).
        samples: ``(S, N, *out)``, every stochastic prediction.
    """

    mean: torch.Tensor
    std: torch.Tensor
    samples: torch.Tensor


def _is_active(module: nn.Module) -> bool:
    """A dropout-family module that actually drops something (``p > 0``, or no ``p`` at all)."""
    if isinstance(module, nn.RNNBase):
        return module.dropout > 0 and module.num_layers > 1  # it drops only between stacked layers
    if isinstance(module, DROPOUT_OWNERS):
        return module.dropout > 0
    p = getattr(module, "p", None)
    return not isinstance(p, (int, float)) or p > 0


@contextlib.contextmanager
def mc_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block: ``model`` in eval mode except its dropout modules, which train.

    Args:
        model: any ``nn.Module``.

    Yields:
        ``model`` itself.

    Raises:
        ReglabError: when the model has no dropout module with ``p > 0``.
    """
    if not isinstance(model, nn.Module):
        raise invalid_argument("model", "an nn.Module", type(model).__name__)
    modules = list(model.modules())
    dropouts = [m for m in modules if isinstance(m, DROPOUT_MODULES + DROPOUT_OWNERS)]
    if not any(_is_active(m) for m in dropouts):
        found = "only dropout modules with p = 0" if dropouts else "no dropout module"
        raise ReglabError(
            f"MC dropout needs active dropout, but the model has {found}. Add a dropout layer with "
            f"p > 0 (reglab.Dropout, torch.nn.Dropout, ...) or use DropConnect(..., mc=True)."
        )
    flags = [m.training for m in modules]
    try:
        model.eval()
        for m in dropouts + [m for m in modules if isinstance(m, _FAST_PATH_LAYERS)]:
            m.training = True  # this module only: a DropConnect's wrapped layer stays in eval
        yield model
    finally:
        for m, flag in zip(modules, flags):
            m.training = flag


@contextlib.contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed the default generator of ``device`` (and the CPU's) inside the block,
    restoring their states afterwards."""
    if seed is None:
        yield
        return
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type="cuda"):
        torch.random.default_generator.manual_seed(seed)
        if device.type == "cuda":
            torch.cuda.default_generators[device.index or 0].manual_seed(seed)
        yield


def mc_predict(
    model: nn.Module,
    x: torch.Tensor,
    samples: int = 30,
    *,
    batch_size: int | None = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> MCPrediction:
    """MC dropout prediction: ``samples`` stochastic forward passes, averaged.

    Runs under :func:`mc_mode` and ``torch.no_grad()``. ``transform`` is
    applied to each sample's output **before** averaging, e.g.
    ``transform=lambda z: z.softmax(-1)`` averages probabilities, not logits
    (the MC estimate of the predictive distribution; feed ``samples`` to
    :func:`predictive_entropy`).

    With a ``generator`` the draws are reproducible: a seed taken from it seeds
    the default random generators (CPU, and ``x``'s CUDA device) for the
    duration of the call, whose states are restored afterwards. Modules built
    with their own ``generator`` keep using it.

    Args:
        model: a network with at least one dropout module with ``p > 0``.
        x: input batch ``(N, *)`` on the model's device.
        samples: number of stochastic passes ``S``, ``>= 2``.
        batch_size: split ``x`` along dim 0 into chunks of this size (memory);
            ``None`` runs the whole batch at once.
        transform: callable applied to each output (e.g. softmax) before averaging.
        generator: optional ``torch.Generator`` making the result reproducible.

    Returns:
        :class:`MCPrediction` with ``mean`` and ``std`` ``(N, *out)`` and
        ``samples`` ``(S, N, *out)``.

    Raises:
        ReglabError: when the model has no active dropout.
    """
    samples = check_int("samples", samples, low=2)
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, low=1)
    if transform is not None and not callable(transform):
        raise invalid_argument("transform", "a callable or None", transform)
    generator = check_generator("generator", generator)
    if not isinstance(x, torch.Tensor) or x.dim() == 0:
        raise invalid_argument("x", "a tensor with a batch dimension (N, *)", type(x).__name__)
    seed = None
    if generator is not None:
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
    chunks = [x] if batch_size is None or len(x) == 0 else list(torch.split(x, batch_size))
    with mc_mode(model), torch.no_grad(), _seeded(seed, x.device):
        per_chunk = []
        for chunk in chunks:
            outs = []
            for _ in range(samples):
                out = model(chunk)
                outs.append(transform(out) if transform is not None else out)
            per_chunk.append(torch.stack(outs))
    stacked = per_chunk[0] if len(per_chunk) == 1 else torch.cat(per_chunk, dim=1)
    return MCPrediction(stacked.mean(0), stacked.std(0), stacked)


def predictive_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy (natural log) of the mean predicted distribution, per example.

    ``H[mean_s p_s] = -sum_k pbar_k log pbar_k`` with ``0 log 0 = 0``.

    Args:
        probs: probabilities, ``(S, N, K)`` MC samples (averaged over ``S``
            first) or ``(N, K)`` already averaged; each row sums to 1.

    Returns:
        A tensor ``(N,)`` with values in ``[0, log K]``.
    """
    if not isinstance(probs, torch.Tensor) or probs.dim() not in (2, 3) or not probs.is_floating_point():
        shape = tuple(probs.shape) if isinstance(probs, torch.Tensor) else type(probs).__name__
        raise InvalidArgumentError(
            "Invalid value received for argument `probs`. Expected a float tensor (S, N, K) or (N, K) "
            f"of probabilities. Received: probs.shape={shape}"
        )
    mean = probs.mean(0) if probs.dim() == 3 else probs
    sums = mean.sum(-1)
    if bool((mean < 0).any()) or not torch.allclose(sums, torch.ones_like(sums), atol=1e-3):
        raise InvalidArgumentError(
            "Invalid value received for argument `probs`. Expected probabilities (non-negative, each row "
            "summing to 1; apply softmax to logits first). Received: probs with row sums "
            f"between {sums.min().item():.4g} and {sums.max().item():.4g}"
        )
    plogp: torch.Tensor = torch.special.xlogy(mean, mean)
    return -plogp.sum(-1)
