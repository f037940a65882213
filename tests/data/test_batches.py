"""The in-memory batch iterator."""

import pytest
import torch

from reglab.core.errors import InvalidArgumentError
from reglab.data import BatchIterator, random_split_indices


def _epoch_indices(batches):
    return torch.cat([idx for (idx,) in batches])


@pytest.mark.parametrize("n, batch_size", [(10, 3), (12, 4), (1, 5), (257, 256)])
def test_every_sample_exactly_once_per_epoch_last_partial_kept(n, batch_size):
    it = BatchIterator(torch.arange(n), batch_size=batch_size, seed=0)
    for _ in range(3):
        batches = list(it)
        sizes = [len(b[0]) for b in batches]
        assert sizes == [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
        assert len(batches) == len(it)
        assert sorted(_epoch_indices(batches).tolist()) == list(range(n))


def test_order_changes_between_epochs_and_is_reproducible():
    first = BatchIterator(torch.arange(1000), batch_size=100, seed=3)
    second = BatchIterator(torch.arange(1000), batch_size=100, seed=3)
    e1, e2 = _epoch_indices(first), _epoch_indices(first)
    assert not torch.equal(e1, e2)  # reshuffled each epoch
    assert torch.equal(e1, _epoch_indices(second)) and torch.equal(e2, _epoch_indices(second))
    assert not torch.equal(e1, torch.arange(1000))


def test_order_does_not_depend_on_the_global_rng():
    it = BatchIterator(torch.arange(100), batch_size=10, seed=5)
    torch.manual_seed(0)
    a = _epoch_indices(it)
    it = BatchIterator(torch.arange(100), batch_size=10, seed=5)
    torch.manual_seed(123)
    torch.rand(10)
    assert torch.equal(a, _epoch_indices(it))


def test_pairs_stay_aligned():
    X = torch.arange(50).float().unsqueeze(1) * 10
    y = torch.arange(50)
    for xb, yb in BatchIterator(X, y, batch_size=7, seed=1):
        assert torch.equal(xb[:, 0], yb.float() * 10)


def test_no_shuffle_keeps_order_and_drop_last():
    it = BatchIterator(torch.arange(10), batch_size=4, shuffle=False, drop_last=True)
    assert [b[0].tolist() for b in it] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(it) == 2


@pytest.mark.parametrize(
    "args, kwargs, name",
    [
        ((torch.zeros(3), torch.zeros(4)), {"batch_size": 2}, "tensors"),
        ((torch.zeros(3),), {"batch_size": 0}, "batch_size"),
        ((torch.zeros(3),), {"batch_size": 2.0}, "batch_size"),
        ((torch.zeros(3),), {"batch_size": 2, "generator": torch.Generator(), "seed": 1}, "seed"),
        ((), {"batch_size": 2}, "tensors"),
    ],
)
def test_bad_arguments(args, kwargs, name):
    with pytest.raises(InvalidArgumentError, match=f"argument `{name}`"):
        BatchIterator(*args, **kwargs)


def test_random_split_partitions():
    a, b = random_split_indices(20, 6, generator=torch.Generator().manual_seed(0))
    assert len(a) == 6 and len(b) == 14
    assert sorted(torch.cat([a, b]).tolist()) == list(range(20))
