"""A fast in-memory batch iterator.

Batches are slices of one random permutation per epoch, gathered with a single
indexing operation each: no per-sample Python, no worker processes, no
conversion in ``__getitem__``. Data can live on the GPU, so batches never cross
the bus.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ..core.checks import check_bool, check_generator, check_int, invalid_argument

__all__ = ["BatchIterator", "random_split_indices"]


class BatchIterator:
    """Iterate over aligned tensors in mini-batches, reshuffled every epoch.

    Each pass over the iterator is one epoch: every sample appears exactly once,
    in batches of ``batch_size`` (the last one smaller unless ``drop_last``).

    Args:
        *tensors: tensors sharing their first dimension ``N`` (e.g. ``X``, ``y``).
        batch_size: samples per batch.
        shuffle: draw a new permutation each epoch (else keep the order).
        generator: the ``torch.Generator`` for the permutations; pass a seeded
            one for a reproducible order independent of the global RNG. Must be
            on the CPU or on the tensors' device.
        seed: shorthand for ``generator=torch.Generator().manual_seed(seed)``.
        drop_last: drop the last batch if it is smaller than ``batch_size``.

    Yields:
        Tuples of tensors, one per input, each of first dimension <= batch_size.
    """

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int,
        shuffle: bool = True,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        drop_last: bool = False,
    ) -> None:
        if not tensors:
            raise invalid_argument("tensors", "at least one tensor", tensors)
        for i, t in enumerate(tensors):
            if not isinstance(t, torch.Tensor) or t.dim() == 0:
                raise invalid_argument(f"tensors[{i}]", "a tensor with at least one dimension", type(t).__name__)
        n = tensors[0].shape[0]
        lengths = [t.shape[0] for t in tensors]
        if any(length != n for length in lengths):
            raise invalid_argument("tensors", "tensors of the same length (first dimension)", lengths)
        devices = {t.device for t in tensors}
        if len(devices) > 1:
            raise invalid_argument("tensors", "tensors on one device", sorted(map(str, devices)))
        self.tensors = tensors
        self.batch_size = check_int("batch_size", batch_size, low=1)
        self.shuffle = check_bool("shuffle", shuffle)
        self.drop_last = check_bool("drop_last", drop_last)
        generator = check_generator("generator", generator)
        if generator is not None and seed is not None:
            raise invalid_argument("seed", "None when a generator is given", seed)
        if seed is not None:
            generator = torch.Generator().manual_seed(check_int("seed", seed, low=0))
        self.generator = generator
        self.num_samples = n

    @property
    def device(self) -> torch.device:
        return self.tensors[0].device

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The shuffling state: the generator's state (empty without a generator of its
        own, when the order comes from the global RNG, or without shuffling). A
        checkpoint saves it so that a resumed run draws the same epoch orders."""
        if not self.shuffle or self.generator is None:
            return {}
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Continue with the orders :meth:`state_dict`'s iterator would have drawn next."""
        if not isinstance(state, dict) or set(state) != set(self.state_dict()):
            received = f"keys {sorted(state)}" if isinstance(state, dict) else type(state).__name__
            raise invalid_argument("state", "a dict from this BatchIterator's state_dict()", received)
        if self.generator is not None and "generator" in state:
            self.generator.set_state(state["generator"])

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def _order(self) -> torch.Tensor | None:
        if not self.shuffle:
            return None
        gen_device = self.generator.device if self.generator is not None else torch.device("cpu")
        perm = torch.randperm(self.num_samples, generator=self.generator, device=gen_device)
        return perm.to(self.device, non_blocking=True)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        order = self._order()
        stop = len(self) * self.batch_size if self.drop_last else self.num_samples
        for start in range(0, stop, self.batch_size):
            end = min(start + self.batch_size, self.num_samples)
            if order is None:
                yield tuple(t[start:end] for t in self.tensors)
            else:
                index = order[start:end]
                yield tuple(t.index_select(0, index) for t in self.tensors)


def random_split_indices(
    n: int, first: int, *, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random partition of ``range(n)`` into ``first`` and ``n - first`` indices (sorted)."""
    n = check_int("n", n, low=0)
    first = check_int("first", first, low=0, high=n)
    perm = torch.randperm(n, generator=generator)
    return perm[:first].sort().values, perm[first:].sort().values
