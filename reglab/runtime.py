"""Reproducible seeding, deterministic mode and device selection."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from ._checks import check_int, invalid_argument

__all__ = ["seed_everything", "resolve_device", "make_generator"]


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


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    if isinstance(device, torch.device):
        spec = str(device)
    elif isinstance(device, str):
        spec = device.strip().lower()
    else:
        raise invalid_argument("device", "'auto', 'cpu', 'cuda' or 'cuda:N'", device)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        index = spec[5:]
        if index and not index.isdigit():
            raise invalid_argument("device", "'auto', 'cpu', 'cuda' or 'cuda:N'", device)
        if not torch.cuda.is_available():
            raise invalid_argument("device", "'auto' or 'cpu' (no CUDA device is available here)", device)
        if index and int(index) >= torch.cuda.device_count():
            raise invalid_argument("device", f"a CUDA index below {torch.cuda.device_count()}", device)
        return torch.device(spec)
    raise invalid_argument("device", "'auto', 'cpu', 'cuda' or 'cuda:N'", device)
