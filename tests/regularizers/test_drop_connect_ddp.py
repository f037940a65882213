"""DropConnect under DistributedDataParallel: two CPU processes over gloo.

DDP registers its all-reduce hooks on the module's Parameters when it wraps
the model. A DropConnect that swapped ``weight`` for a masked tensor would
leave those Parameters without gradients and DDP would fail or average
nothing; reglab's functional DropConnect must give every rank the average of
the ranks' own masked gradients.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from reglab import DropConnect

WORLD = 2


def _local_gradient(rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank ``rank``'s own gradients (weight, bias), without DDP: its mask seed and its input."""
    torch.manual_seed(0)  # the same initial weights on every rank, as DDP requires
    layer = nn.Linear(6, 4)
    model = DropConnect(layer, 0.5, drop_bias=True, generator=torch.Generator().manual_seed(100 + rank))
    x = torch.randn(8, 6, generator=torch.Generator().manual_seed(rank))
    model(x).pow(2).sum().backward()
    return layer.weight.grad, layer.bias.grad


def _worker(rank: int, out_dir: str) -> None:
    # A file store: no port to race for with other processes on the machine.
    dist.init_process_group("gloo", init_method=f"file://{out_dir}/store", rank=rank, world_size=WORLD)
    try:
        torch.manual_seed(0)
        layer = nn.Linear(6, 4)
        model = nn.parallel.DistributedDataParallel(
            DropConnect(layer, 0.5, drop_bias=True, generator=torch.Generator().manual_seed(100 + rank))
        )
        x = torch.randn(8, 6, generator=torch.Generator().manual_seed(rank))
        model(x).pow(2).sum().backward()
        torch.save((layer.weight.grad, layer.bias.grad, model.state_dict()), os.path.join(out_dir, f"{rank}.pt"))
        dist.barrier()  # both ranks have saved their gradients
    except BaseException:
        dist.destroy_process_group()
        raise
    # Leave without tearing gloo down: its teardown, with the other rank closing its end at
    # the same moment, aborted a rank now and then ("terminate called without an active
    # exception", SIGABRT), failing the test after every result was saved.
    os._exit(0)


@pytest.mark.slow
def test_ddp_averages_the_ranks_masked_gradients(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path),), nprocs=WORLD, join=True)
    local = [_local_gradient(rank) for rank in range(WORLD)]
    assert not torch.equal(local[0][0], local[1][0])  # different masks and inputs per rank
    expected_w = (local[0][0] + local[1][0]) / WORLD
    expected_b = (local[0][1] + local[1][1]) / WORLD
    for rank in range(WORLD):
        weight_grad, bias_grad, state = torch.load(tmp_path / f"{rank}.pt")
        torch.testing.assert_close(weight_grad, expected_w)
        torch.testing.assert_close(bias_grad, expected_b)
        assert sorted(state) == ["module.module.bias", "module.module.weight"]  # DDP's, then DropConnect's prefix
