"""Reproducible seeding: every generator at once, fresh generators, and
independent random streams derived from one seed.

An experiment seeded with ``seed`` often needs several generators (data,
initial weights, batch order, dropout masks). Seeding them all with ``seed``
would make them draw the *same* numbers (the initial weights would equal the
first data features), so each stream gets its own seed, mixed from
``(seed, stream)`` with SplitMix64's finaliser (:func:`stream_seed`). The
mapping is a pure function, so another backend (e.g. a sweep's stacked
trainer) reproduces every stream exactly.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from ..core.checks import check_int

__all__ = ["seed_everything", "make_generator", "stream_seed"]

_MASK64 = (1 << 64) - 1


def seed_everything(seed: int, *, deterministic: bool = False) -> None:
    """Seed Python's, NumPy's and torch's (CPU and every CUDA device) generators.

    With ``deterministic=True`` also ask torch for deterministic algorithms
    (``torch.use_deterministic_algorithms``, cuDNN without benchmarking, the
    cuBLAS workspace setting): slower, but the same results run to run on the
    same machine. Off by default, as in PyTorch.
    """
    seed = check_int("seed", seed, low=0, high=2**63 - 1)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded with ``seed``."""
    seed = check_int("seed", seed, low=0, high=2**63 - 1)
    return torch.Generator(device=device).manual_seed(seed)


def stream_seed(seed: int, stream: int) -> int:
    """The seed of random stream ``stream`` (a small int) of experiment seed ``seed``.

    Args:
        seed: the experiment's seed, >= 0.
        stream: which stream (each experiment documents its numbering).

    Returns:
        An int in ``[0, 2**63)``, suitable for ``torch.Generator.manual_seed``.
    """
    z = (seed * 0x9E3779B97F4A7C15 + (stream + 1) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) >> 1
