"""The regularizer zoo's networks and families: one small network per task, and how each
family of reglab's regularizers is put into it.

Networks (Fashion-MNIST, 10 classes), both residual so that drop path has
branches to drop:

- ``mlp``: ``784 -> 256``, two residual blocks ``h + f(h)`` with
  ``f = Linear(256, 256) . ReLU . Linear(256, 256)``, ``ReLU``, ``-> 10``;
- ``cnn``: the flat image as ``(1, 28, 28)``, ``conv3x3(1 -> 8)``, ``maxpool 2``,
  a residual block (two ``conv3x3(8 -> 8)``) on 14 x 14 maps, ``conv3x3(8 -> 16)``,
  ``maxpool 2``, a residual block on 7 x 7 maps, ``Linear(16*7*7, 64)``, ``ReLU``, ``-> 10``.

Where each family acts (``s`` is its strength):

=================  ===========================================================
``none``           nothing
``l2``             SGD ``weight_decay=s`` on the weights (``param_groups``; = a λ/2·Σw² penalty)
``l1``             a ``L1(s)`` penalty on the weights
``dropout``        ``Dropout(s)`` after the hidden activations (mlp: stem and each block; cnn: the dense layer)
``dropconnect``    ``DropConnect(p=s)`` on the same layers' weights (mlp: the blocks' linears; cnn: the dense layer)
``dropblock``      ``DropBlock2d(s, block_size=3)`` after each residual block (cnn only)
``droppath``       ``DropPath`` on each residual branch, rates linear in depth up to ``s``
``gaussian``       ``GaussianDropout(s)`` where ``dropout`` puts ``Dropout``
``label_smoothing``  cross-entropy with ``label_smoothing=s`` (training loss only)
``maxnorm``        ``MaxNorm(s)`` on every weight's rows after each step
``early_stopping``  ``EarlyStopping(val_loss, patience=s)``, best weights restored
``combination``    dropout, weight decay and max-norm together, each at its selected strength
=================  ===========================================================

Convention: ``p`` is the drop probability everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..engine.callbacks import ApplyConstraint, Callback
from ..engine.early_stopping import EarlyStopping
from ..engine.loop import LossFn
from ..engine.losses import get_loss
from ..regularizers.constraints import MaxNorm
from ..regularizers.drop_block import DropBlock2d
from ..regularizers.drop_connect import DropConnect
from ..regularizers.inverted_dropout import Dropout
from ..regularizers.noise import GaussianDropout
from ..regularizers.penalties import L1, param_groups
from ..regularizers.stochastic_depth import DropPath, drop_path_rates

__all__ = [
    "NETWORKS",
    "FAMILIES",
    "COMBINED",
    "Residual",
    "Recipe",
    "applies_to",
    "build_recipe",
    "describe_strengths",
    "grid_strengths",
]

NETWORKS = ("mlp", "cnn")
FAMILIES = (
    "none",
    "l2",
    "l1",
    "dropout",
    "dropconnect",
    "dropblock",
    "droppath",
    "gaussian",
    "label_smoothing",
    "maxnorm",
    "early_stopping",
    "combination",
)
#: The families the combination joins, each at the strength selected for it.
COMBINED = ("dropout", "l2", "maxnorm")


def applies_to(family: str, network: str) -> bool:
    """DropBlock needs feature maps: it has no place in the MLP."""
    return not (family == "dropblock" and network == "mlp")


@dataclass
class _Settings:
    """What the family puts into a network: one entry per family in play."""

    dropout: float = 0.0
    dropconnect: float = 0.0
    dropblock: float = 0.0
    droppath: float = 0.0
    gaussian: float = 0.0


def _noise(s: _Settings) -> nn.Module:
    if s.gaussian > 0:
        return GaussianDropout(s.gaussian)
    return Dropout(s.dropout) if s.dropout > 0 else nn.Identity()


def _linear(fan_in: int, fan_out: int, s: _Settings) -> nn.Module:
    layer = nn.Linear(fan_in, fan_out)
    return DropConnect(layer, p=s.dropconnect) if s.dropconnect > 0 else layer


class Residual(nn.Module):
    """``x + drop_path(branch(x))``."""

    def __init__(self, branch: nn.Module, drop_path: float) -> None:
        super().__init__()
        self.branch = branch
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.drop_path(self.branch(x))
        return out


def _mlp(s: _Settings) -> nn.Module:
    rates = drop_path_rates(s.droppath, 2) if s.droppath > 0 else [0.0, 0.0]
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), _noise(s)]
    for rate in rates:
        branch = nn.Sequential(_linear(256, 256, s), nn.ReLU(), _noise(s), _linear(256, 256, s))
        layers += [Residual(branch, rate), nn.ReLU()]
    layers.append(nn.Linear(256, 10))
    return nn.Sequential(*layers)


def _conv_block(channels: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1)
    )


def _cnn(s: _Settings) -> nn.Module:
    rates = drop_path_rates(s.droppath, 2) if s.droppath > 0 else [0.0, 0.0]

    def block_drop() -> nn.Module:
        return DropBlock2d(s.dropblock, block_size=3) if s.dropblock > 0 else nn.Identity()

    return nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 14 x 14
        Residual(_conv_block(8), rates[0]),
        nn.ReLU(),
        block_drop(),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 7 x 7
        Residual(_conv_block(16), rates[1]),
        nn.ReLU(),
        block_drop(),
        nn.Flatten(),
        _linear(16 * 7 * 7, 64, s),
        nn.ReLU(),
        _noise(s),
        nn.Linear(64, 10),
    )


@dataclass
class Recipe:
    """Everything one training of the zoo needs besides the data.

    Attributes:
        model: the network with the family's modules in place (on the CPU).
        optimizer: SGD with momentum over ``param_groups`` (weight decay for ``l2``).
        loss_fn: the training loss (label smoothing only for ``label_smoothing``).
        penalty: the ``fit`` penalty (``l1``), or None.
        callbacks: the family's callbacks (max-norm, early stopping).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: LossFn
    penalty: Callable[[nn.Module], torch.Tensor] | None = None
    callbacks: list[Callback] = field(default_factory=list)


def build_recipe(
    network: str,
    strengths: Mapping[str, float],
    *,
    lr: float,
    momentum: float,
    seed: int,
) -> Recipe:
    """The network with the given families at the given strengths.

    Args:
        network: ``"mlp"`` or ``"cnn"``.
        strengths: family -> strength for every family in play (none: ``{}``;
            the combination: one entry per family in :data:`COMBINED`).
        lr, momentum: SGD's settings.
        seed: seeds the weights (``torch.manual_seed``), so that every family
            starts a seed from the same draw order.
    """
    s = _Settings(
        dropout=strengths.get("dropout", 0.0),
        dropconnect=strengths.get("dropconnect", 0.0),
        dropblock=strengths.get("dropblock", 0.0),
        droppath=strengths.get("droppath", 0.0),
        gaussian=strengths.get("gaussian", 0.0),
    )
    torch.manual_seed(seed)
    model = _mlp(s) if network == "mlp" else _cnn(s)
    optimizer = torch.optim.SGD(param_groups(model, strengths.get("l2", 0.0)), lr=lr, momentum=momentum)
    recipe = Recipe(model, optimizer, get_loss("cross_entropy", label_smoothing=strengths.get("label_smoothing", 0.0)))
    if "l1" in strengths:
        recipe.penalty = L1(strengths["l1"])
    if "maxnorm" in strengths:
        recipe.callbacks.append(ApplyConstraint(model, MaxNorm(strengths["maxnorm"])))
    if "early_stopping" in strengths:
        recipe.callbacks.append(EarlyStopping("val_loss", patience=int(strengths["early_stopping"])))
    return recipe


def describe_strengths(strengths: Mapping[str, float]) -> str:
    """``"p=0.3"``-style text of a family's strengths, for the table."""
    names = {
        "l2": "wd",
        "l1": "λ",
        "dropout": "p",
        "dropconnect": "p",
        "dropblock": "p",
        "droppath": "p",
        "gaussian": "p",
        "label_smoothing": "ε",
        "maxnorm": "c",
        "early_stopping": "patience",
    }
    return ", ".join(f"{names[k]}={_fmt(v)}" for k, v in strengths.items()) or "-"


def _fmt(value: float) -> str:
    return f"{value:g}"


def grid_strengths(family: str, grid: Sequence[Any]) -> list[dict[str, float]]:
    """One strengths dict per grid value of a single family (``none``: one empty dict)."""
    if family == "none":
        return [{}]
    return [{family: float(v)} for v in grid]
