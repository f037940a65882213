"""Device selection: ``"auto"`` means CUDA when available, else the CPU."""

from __future__ import annotations

import torch

from ..core.checks import invalid_argument

__all__ = ["resolve_device"]


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
