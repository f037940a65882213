"""d2l's data functions on reglab's in-memory batches (no torchvision, no DataLoader).

``load_array`` and ``load_data_fashion_mnist`` return :class:`D2LBatches`:
re-iterable (one epoch per pass), reshuffled every epoch when training,
``len()`` = number of batches, each batch a fresh ``(X, y)`` tuple, exactly
the data format d2l's DataLoaders yield. Fashion-MNIST batches are
``X`` float32 ``(B, 1, H, W)`` in [0, 1] and ``y`` int64 ``(B,)``; with
``resize`` the images are resized per batch (bilinear, antialiased when
shrinking), so even ``resize=224`` needs no extra memory.

The environment variable ``REGLAB_D2L_SUBSET=N`` keeps only the first ``N``
training and the first ``N`` test images (for quick runs and tests).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ..core.checks import check_bool, check_generator, check_int, check_int_tuple, invalid_argument
from ..data import CLASSES, BatchIterator, load_fashion_mnist

__all__ = [
    "SUBSET_ENV",
    "D2LBatches",
    "synthetic_data",
    "load_array",
    "get_dataloader_workers",
    "get_fashion_mnist_labels",
    "load_data_fashion_mnist",
    "resize_images",
]

SUBSET_ENV = "REGLAB_D2L_SUBSET"


class D2LBatches:
    """An epoch-wise re-iterable of ``(X, y)`` batches over in-memory tensors.

    Args:
        batches: the underlying :class:`reglab.data.BatchIterator`.
        transform: applied to each batch's first tensor (e.g. uint8 -> float).
        copy: clone batches that would otherwise be views of the data (unshuffled
            slices), so in-place edits of a batch never touch the data set.
    """

    def __init__(
        self,
        batches: BatchIterator,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        *,
        copy: bool = True,
    ) -> None:
        self.batches = batches
        self.transform = transform
        self.copy = copy

    def __len__(self) -> int:
        return len(self.batches)

    @property
    def batch_size(self) -> int:
        return self.batches.batch_size

    @property
    def num_samples(self) -> int:
        return self.batches.num_samples

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        fresh = self.batches.shuffle  # index_select already copies
        for batch in self.batches:
            if self.copy and not fresh:
                batch = tuple(t.clone() for t in batch)
            if self.transform is not None:
                batch = (self.transform(batch[0]), *batch[1:])
            yield batch

    def __repr__(self) -> str:
        return (
            f"D2LBatches(num_samples={self.num_samples}, batch_size={self.batch_size}, "
            f"shuffle={self.batches.shuffle}, batches={len(self)})"
        )


def synthetic_data(w, b, num_examples):
    """Generate ``y = X w + b + noise`` as d2l does (global RNG, same draws).

    Args:
        w: weights, a tensor ``(d,)`` or ``(d, 1)``.
        b: bias, a number or a one-element tensor.
        num_examples: ``n``.

    Returns:
        ``X`` ``(n, d)`` drawn from N(0, 1) and ``y`` ``(n, 1)`` with N(0, 0.01^2) noise,
        on ``w``'s device. For an explicit generator use :func:`reglab.data.synthetic_linear`.
    """
    num_examples = check_int("num_examples", num_examples, low=0)
    if not isinstance(w, torch.Tensor):
        w = torch.tensor(w, dtype=torch.float32)
    if w.dim() == 0 or w.dim() > 2 or w.numel() == 0:
        raise invalid_argument("w", "a non-empty weight tensor of shape (d,) or (d, 1)", tuple(w.shape))
    X = torch.normal(0, 1, (num_examples, len(w)), device=w.device)
    y = torch.matmul(X, w.to(X.dtype)) + b
    y += torch.normal(0, 0.01, y.shape, device=y.device)
    return X, y.reshape((-1, 1))


def _as_tensor(name: str, value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        raise invalid_argument(name, "tensors (or arrays) with a first dimension", type(value).__name__) from None


def load_array(data_arrays, batch_size, is_train=True, *, generator: torch.Generator | None = None) -> D2LBatches:
    """Mini-batches over aligned tensors, as d2l's ``load_array`` (shuffled when ``is_train``).

    Args:
        data_arrays: a tuple of tensors sharing their first dimension, e.g. ``(X, y)``.
        batch_size: samples per batch (the last batch may be smaller).
        is_train: shuffle, with a new order every epoch.
        generator: optional ``torch.Generator`` for the order (default: the global RNG).

    Returns:
        A :class:`D2LBatches` yielding tuples of tensors of first dimension <= batch_size.
    """
    if isinstance(data_arrays, torch.Tensor) or not isinstance(data_arrays, Sequence) or not data_arrays:
        raise invalid_argument(
            "data_arrays", "a non-empty tuple of tensors, e.g. (features, labels)", type(data_arrays).__name__
        )
    tensors = [_as_tensor(f"data_arrays[{i}]", a) for i, a in enumerate(data_arrays)]
    batch_size = check_int("batch_size", batch_size, low=1)
    shuffle = check_bool("is_train", is_train)
    generator = check_generator("generator", generator)
    return D2LBatches(BatchIterator(*tensors, batch_size=batch_size, shuffle=shuffle, generator=generator))


def get_dataloader_workers() -> int:
    """d2l's worker count (4). Kept for programs that print it; reglab's batches need no workers."""
    return 4


def get_fashion_mnist_labels(labels) -> list[str]:
    """The text labels of Fashion-MNIST class indices (any iterable of ints or a tensor)."""
    out = []
    for i in labels:
        k = int(i)
        if not 0 <= k < len(CLASSES):
            raise invalid_argument("labels", "class indices between 0 and 9", k)
        out.append(CLASSES[k])
    return out


def _resize_size(resize: Any) -> tuple[int, int] | None:
    if resize is None:
        return None
    if isinstance(resize, int) and not isinstance(resize, bool):
        return (check_int("resize", resize, low=1),) * 2  # square images: the smaller edge is both
    if isinstance(resize, Sequence) and len(resize) == 1:
        return (check_int("resize", resize[0], low=1),) * 2
    h, w = check_int_tuple("resize", resize, length=2, low=1)
    return h, w


def resize_images(X: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(B, C, H, W)`` float images, antialiased when shrinking (as torchvision)."""
    if tuple(X.shape[-2:]) == tuple(size):
        return X
    shrink = size[0] < X.shape[-2] or size[1] < X.shape[-1]
    return F.interpolate(X, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def _subset_size() -> int | None:
    raw = os.environ.get(SUBSET_ENV)
    if not raw:
        return None
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise invalid_argument(SUBSET_ENV, "a positive number of images (environment variable)", raw)
    return n


def load_data_fashion_mnist(
    batch_size, resize=None, *, device: torch.device | str | None = None, root: str | None = None
) -> tuple[D2LBatches, D2LBatches]:
    """Fashion-MNIST as d2l's ``(train_iter, test_iter)``, from reglab's loader.

    Args:
        batch_size: samples per batch.
        resize: ``None``, an int (square output side) or ``(height, width)``.
        device: where the batches live (default CPU, as d2l); images are kept
            there as uint8 and converted per batch.
        root: a folder to look for the IDX files first (see :func:`reglab.load_fashion_mnist`).

    Returns:
        ``(train_iter, test_iter)``: the training batches shuffled every epoch,
        the test batches in order; each batch ``X`` float32 ``(B, 1, H, W)`` in
        [0, 1], ``y`` int64 ``(B,)``.
    """
    batch_size = check_int("batch_size", batch_size, low=1)
    size = _resize_size(resize)
    subset = _subset_size()
    data = load_fashion_mnist(root)
    device = torch.device(device) if device is not None else torch.device("cpu")

    def transform(images: torch.Tensor) -> torch.Tensor:
        X = images.unsqueeze(1).to(torch.float32).div_(255.0)
        return resize_images(X, size) if size is not None else X

    iters = []
    for split, shuffle in (("train", True), ("test", False)):
        images, labels = getattr(data, f"{split}_images"), getattr(data, f"{split}_labels")
        if subset is not None:
            images, labels = images[:subset], labels[:subset]
        batches = BatchIterator(images.to(device), labels.to(device), batch_size=batch_size, shuffle=shuffle)
        iters.append(D2LBatches(batches, transform, copy=True))
    if subset is not None:
        print(
            f"reglab.d2l: {SUBSET_ENV}={subset}: using {iters[0].num_samples} training and "
            f"{iters[1].num_samples} test images",
            file=sys.stderr,
        )
    return iters[0], iters[1]
