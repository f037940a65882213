"""Validation splits: disjoint, complete, and K folds covering every sample once."""

import pytest
import torch

from reglab.core.errors import InvalidArgumentError
from reglab.data import validation_split


@pytest.mark.parametrize("n, k", [(10, 2), (23, 5), (100, 10), (7, 7)])
def test_kfold_validation_sets_cover_every_sample_exactly_once(n, k):
    seen = torch.zeros(n, dtype=torch.int64)
    for fold in range(k):
        train, val = validation_split(n, kfold=k, fold=fold)
        assert sorted(torch.cat([train, val]).tolist()) == list(range(n))  # a partition
        seen[val] += 1
        assert n // k <= len(val) <= -(-n // k)  # sizes differ by at most one
    assert seen.tolist() == [1] * n


def test_fraction_split_is_a_partition_of_the_right_size_and_fixed():
    train, val = validation_split(1000, val_fraction=0.2)
    assert len(val) == 200 and len(train) == 800
    assert sorted(torch.cat([train, val]).tolist()) == list(range(1000))
    again, val2 = validation_split(1000, val_fraction=0.2)
    assert torch.equal(val, val2) and torch.equal(train, again)
    _, other = validation_split(1000, val_fraction=0.2, split_seed=1)
    assert not torch.equal(val, other)


def test_no_split_keeps_everything():
    train, val = validation_split(5)
    assert train.tolist() == [0, 1, 2, 3, 4] and val is None


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"val_fraction": -0.1}, "val_fraction"),
        ({"kfold": 1}, "kfold"),
        ({"kfold": 3, "fold": 3}, "fold"),
        ({"fold": 1}, "fold"),
        ({"kfold": 3, "val_fraction": 0.2}, "val_fraction"),
        ({"kfold": 20}, "kfold"),
        ({"val_fraction": 0.01}, "val_fraction"),
    ],
)
def test_bad_settings(kwargs, name):
    with pytest.raises(InvalidArgumentError, match=f"argument `{name}`"):
        validation_split(10, **kwargs)
