"""Pieces shared by the experiments: their common settings, and for the
Fashion-MNIST experiments data as device tensors, the steps every run takes
(:func:`begin_fashion_run`, :func:`train_fashion`), the d2l MLP and the
standard summary.

Settings. :class:`SeedSettings`, :class:`SplitSettings` and
:class:`FashionTrainingSettings` check the settings that mean the same in every
experiment that has them (one ``__post_init__`` each; a config chains them with
``super().__post_init__()`` after its own checks), and :func:`setting_batch_size`,
:func:`setting_train_subset`, :func:`setting_test_subset`,
:func:`setting_val_fraction`, :func:`setting_kfold` and :func:`setting_fold`
declare such a field with its one help text. The mixins hold no dataclass
fields: a config declares every setting itself, with its own default and in
its own order, because inherited fields would come first and reorder
``reglab run NAME --help``, ``config.json`` and the list of valid settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from typing import Any, TypeVar

import torch
from torch import nn

from ..core.checks import check_float, check_int
from ..data import BatchIterator, load_fashion_mnist
from ..data.batches import random_split_indices
from ..data.fashion_mnist import TEST_SIZE, TRAIN_SIZE
from ..data.splits import check_split_settings, check_split_sizes, validation_split
from ..engine.callbacks import Callback
from ..engine.loop import LossFn, fit
from ..engine.seeding import seed_everything
from ..engine.state import History
from ..runs.experiment import RunContext, setting_help

__all__ = [
    "Settings",
    "SeedSettings",
    "SplitSettings",
    "FashionTrainingSettings",
    "setting_batch_size",
    "setting_train_subset",
    "setting_test_subset",
    "setting_val_fraction",
    "setting_kfold",
    "setting_fold",
    "check_test_subset",
    "MAX_SEED",
    "FashionBatches",
    "fashion_batches",
    "begin_fashion_run",
    "train_fashion",
    "init_normal_",
    "init_default_",
    "grad_of",
    "dropout_mlp",
    "epoch_summary",
    "EVAL_BATCH",
]

_ModuleT = TypeVar("_ModuleT", bound=nn.Module)


class Settings:
    """The root of the settings mixins: ends their ``__post_init__`` chain."""

    def __post_init__(self) -> None:
        pass


#: The largest seed: torch's generators take seeds below 2**63 (stream seeds are derived below it too).
MAX_SEED = 2**63 - 1


class SeedSettings(Settings):
    """A config with a ``seed``: an integer in [0, 2**63). Its default, and what it seeds, are the
    experiment's. A config that also runs ``seeds`` seeds (seed, seed+1...) keeps the last one in range."""

    seed: int

    def __post_init__(self) -> None:
        check_int("seed", self.seed, low=0, high=MAX_SEED - max(int(getattr(self, "seeds", 1)) - 1, 0))
        super().__post_init__()


class SplitSettings(Settings):
    """A config with the validation split of :func:`reglab.data.validation_split`:
    ``val_fraction``, ``kfold`` and ``fold`` (what a sweep's ``--select`` sets)."""

    val_fraction: float
    kfold: int
    fold: int

    def __post_init__(self) -> None:
        check_split_settings(self.val_fraction, self.kfold, self.fold)
        super().__post_init__()

    def validation_split(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:func:`reglab.data.validation_split` of ``n`` training samples with these settings:
        indices ``(train, val)``, ``val`` None without a split."""
        return validation_split(n, val_fraction=self.val_fraction, kfold=self.kfold, fold=self.fold)


class FashionTrainingSettings(SeedSettings):
    """A config trained on Fashion-MNIST: ``lr`` (> 0), ``batch_size`` (>= 1), ``epochs``
    (>= 1), ``train_subset`` (0 to 60000; 0: all 60000 images) and ``seed``. With a
    :class:`SplitSettings` validation split, the split must leave training samples."""

    lr: float
    batch_size: int
    epochs: int
    train_subset: int

    def __post_init__(self) -> None:
        check_float("lr", self.lr, low=0.0, low_open=True)
        check_int("batch_size", self.batch_size, low=1)
        check_int("epochs", self.epochs, low=1)
        check_int("train_subset", self.train_subset, low=0, high=TRAIN_SIZE)
        super().__post_init__()
        if isinstance(self, SplitSettings):
            check_split_sizes(self.train_subset or TRAIN_SIZE, val_fraction=self.val_fraction, kfold=self.kfold)


def check_test_subset(value: int) -> int:
    """``test_subset``: 0 (all 10000 test images) up to 10000."""
    return check_int("test_subset", value, low=0, high=TEST_SIZE)


def setting_batch_size(default: int) -> int:
    """The ``batch_size`` field of a Fashion-MNIST config."""
    return field(default=default, metadata=setting_help("training batch size"))


def setting_train_subset(default: int = 0) -> int:
    """The ``train_subset`` field of a Fashion-MNIST config."""
    return field(default=default, metadata=setting_help("train on this many random samples (0: all 60000)"))


def setting_test_subset(default: int = 0) -> int:
    """The ``test_subset`` field of a Fashion-MNIST config."""
    return field(default=default, metadata=setting_help("test on this many random samples (0: all 10000)"))


def setting_val_fraction() -> float:
    """The ``val_fraction`` field of a :class:`SplitSettings` config (default 0: no validation set)."""
    return field(default=0.0, metadata=setting_help("hold out this fraction of training data for validation"))


def setting_kfold() -> int:
    """The ``kfold`` field of a :class:`SplitSettings` config (default 0: off)."""
    return field(default=0, metadata=setting_help("K-fold cross-validation: number of folds (0: off)"))


def setting_fold() -> int:
    """The ``fold`` field of a :class:`SplitSettings` config (default 0)."""
    return field(default=0, metadata=setting_help("with kfold: the fold used for validation (0-based)"))


EVAL_BATCH = 2048  # evaluation batch size: any value gives the same numbers


class FashionBatches:
    """Training, optional validation, and test batches of Fashion-MNIST, on the device."""

    def __init__(self, train: BatchIterator, val: BatchIterator | None, test: BatchIterator) -> None:
        self.train, self.val, self.test = train, val, test

    @property
    def eval_sets(self) -> dict[str, BatchIterator]:
        """``{"val": ..., "test": ...}`` for :func:`reglab.fit` (no "val" without a split)."""
        return ({"val": self.val} if self.val is not None else {}) | {"test": self.test}


def fashion_batches(
    device: torch.device,
    *,
    batch_size: int,
    seed: int,
    flatten: bool = True,
    train_subset: int = 0,
    test_subset: int = 0,
    val_fraction: float = 0.0,
    kfold: int = 0,
    fold: int = 0,
) -> FashionBatches:
    """Fashion-MNIST as float32 [0, 1] tensors on ``device``, in batches.

    ``train_subset``/``test_subset`` > 0 keep that many samples, chosen at
    random with ``seed``. The validation split (``val_fraction`` or
    ``kfold``/``fold``, see :func:`reglab.data.validation_split`) is then carved
    from the training samples. The training order is shuffled with ``seed``,
    independently of the global RNG.
    """
    data = load_fashion_mnist()
    X, y = data.split("train", flatten=flatten, device=device)
    Xt, yt = data.split("test", flatten=flatten, device=device)
    g = torch.Generator().manual_seed(seed)
    if 0 < train_subset < X.shape[0]:
        keep, _ = random_split_indices(X.shape[0], train_subset, generator=g)
        X, y = X[keep.to(device)], y[keep.to(device)]
    if 0 < test_subset < Xt.shape[0]:
        keep, _ = random_split_indices(Xt.shape[0], test_subset, generator=g)
        Xt, yt = Xt[keep.to(device)], yt[keep.to(device)]
    train_idx, val_idx = validation_split(X.shape[0], val_fraction=val_fraction, kfold=kfold, fold=fold)
    val = None
    if val_idx is not None:
        val_idx, train_idx = val_idx.to(device), train_idx.to(device)
        val = BatchIterator(X[val_idx], y[val_idx], batch_size=EVAL_BATCH, shuffle=False)
        X, y = X[train_idx], y[train_idx]
    train = BatchIterator(X, y, batch_size=batch_size, shuffle=True, seed=seed)
    test = BatchIterator(Xt, yt, batch_size=EVAL_BATCH, shuffle=False)
    return FashionBatches(train, val, test)


def begin_fashion_run(config: FashionTrainingSettings, device: torch.device, *, test_subset: int = 0) -> FashionBatches:
    """The start of a Fashion-MNIST run: ``seed_everything(config.seed)``, before
    anything else draws from the global RNG, then :func:`fashion_batches` with the
    config's batch size, seed and training subset, ``test_subset`` and, for a
    :class:`SplitSettings` config, its validation split."""
    seed_everything(config.seed)
    if isinstance(config, SplitSettings):
        val_fraction, kfold, fold = config.val_fraction, config.kfold, config.fold
    else:  # no validation split: fashion_batches' defaults
        val_fraction, kfold, fold = 0.0, 0, 0
    return fashion_batches(
        device,
        batch_size=config.batch_size,
        seed=config.seed,
        train_subset=config.train_subset,
        test_subset=test_subset,
        val_fraction=val_fraction,
        kfold=kfold,
        fold=fold,
    )


def train_fashion(
    config: FashionTrainingSettings,
    ctx: RunContext,
    model: nn.Module,
    batches: FashionBatches,
    optimizer: torch.optim.Optimizer,
    *,
    loss_fn: LossFn | None = None,
    callbacks: Sequence[Callback] = (),
    metrics: bool = True,
    tags: Mapping[str, Any] | None = None,
) -> History:
    """:func:`reglab.fit` ``model`` on ``batches.train`` for ``config.epochs`` epochs,
    evaluated on ``batches.eval_sets`` after each, on the context's device.

    Args:
        loss_fn: the loss; None for ``nn.CrossEntropyLoss()``.
        callbacks: run before the context's own (:meth:`RunContext.callbacks`:
            the epoch table unless quiet, ``metrics.csv`` with a run folder).
        metrics: False leaves ``metrics.csv`` to the experiment.
        tags: written in front of this training's rows (see :meth:`RunContext.callbacks`),
            for a run that trains several models.

    Returns:
        The per-epoch :class:`~reglab.engine.state.History`; a progress bar per
        epoch as the context says.
    """
    return fit(
        model,
        batches.train,
        loss_fn=loss_fn if loss_fn is not None else nn.CrossEntropyLoss(),
        optimizer=optimizer,
        epochs=config.epochs,
        eval_sets=batches.eval_sets,
        device=ctx.device,
        callbacks=[*callbacks, *ctx.callbacks(metrics=metrics, tags=tags)],
        progress=ctx.show_progress,
    )


def init_normal_(model: _ModuleT, std: float) -> _ModuleT:
    """d2l's ``init_weights``: Linear weights ~ N(0, std^2); biases keep
    PyTorch's default (uniform in +-1/sqrt(fan_in)), as in d2l."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=std)
    return model


def init_default_(model: _ModuleT, generator: torch.Generator) -> _ModuleT:
    """PyTorch's default Linear initialisation, weights and biases ~ U(+-1/sqrt(fan_in)),
    drawn from ``generator`` (each Linear's weight, then its bias) instead of the
    global RNG, in place; ``model``'s parameters must be on the generator's device."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            bound = m.in_features**-0.5
            nn.init.uniform_(m.weight, -bound, bound, generator=generator)
            nn.init.uniform_(m.bias, -bound, bound, generator=generator)
    return model


def grad_of(tensor: torch.Tensor, name: str) -> torch.Tensor:
    """``tensor.grad`` after a backward pass that reached it; ``name`` says which tensor
    in the error raised when no gradient is there."""
    grad = tensor.grad
    if grad is None:
        raise RuntimeError(f"{name} has no gradient: the backward pass did not reach it")
    return grad


def dropout_mlp(
    sizes: Sequence[int],
    drop_probs: Sequence[float],
    make_dropout: Callable[[float], nn.Module],
) -> nn.Sequential:
    """``Flatten, [Linear, ReLU, Dropout(p)] * hidden, Linear``: d2l's dropout MLP.

    ``sizes`` = (inputs, hidden..., outputs); one drop probability per hidden layer.
    """
    if len(drop_probs) != len(sizes) - 2:
        raise ValueError("one drop probability per hidden layer")
    layers: list[nn.Module] = [nn.Flatten()]
    for fan_in, fan_out, p in zip(sizes[:-2], sizes[1:-1], drop_probs):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU(), make_dropout(p)]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


def epoch_summary(rows: Sequence[dict[str, float]]) -> dict[str, Any]:
    """Final numbers of an epoch-based run: the last row's metrics and the epoch count."""
    last = dict(rows[-1]) if rows else {}
    out: dict[str, Any] = {k: v for k, v in last.items() if k not in ("epoch", "seconds")}
    out["epochs"] = len(rows)
    out["train_seconds"] = sum(row["seconds"] for row in rows)
    return out
