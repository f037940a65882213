"""Keep masks for the dropout family: True with probability ``1 - p``, exactly.

Each element is kept when a uniform 32-bit integer ``U`` is at least
``t = round(p * 2**32)``, so the keep probability is ``1 - p`` to within
2**-33 (``torch.rand(...) >= p`` in float32 resolves only 2**-24).

The 32 bits come from one ``Tensor.random_`` draw per mask. When ``p * 256``
is an integer (p = 0.5, 0.25, 0.75...) the low 24 bits of ``t`` are zero, so
``U``'s top byte alone decides; on the CPU only that byte is drawn and
compared with uint8 arithmetic: ``clamp(byte, hi - 1, hi) - (hi - 1)`` is 1
exactly when ``byte >= hi``. That is the same distribution from a quarter of
the bits (why this is faster: ``docs/regularizers-dropout.md``, "Speed").

The bits come from the given ``torch.Generator`` (or the default one) on the
mask's device, so the same generator state gives the same mask on the same
device. Under ``torch.compile`` without a generator the mask is one
``torch.randint`` draw of the 32 bits, which the compiler can trace (no graph
break); it then comes from the compiled graph's random stream, as torch's own
dropout does, so it is not the eager mask. Large CPU masks are drawn in chunks
of ``CPU_CHUNK`` elements; the chunks consume the random words in order, so the
mask is the same as in one draw.
"""

from __future__ import annotations

import torch

from ..core.checks import check_generator, check_probability

__all__ = ["CPU_CHUNK", "threshold", "fill_keep_mask", "draw_keep_mask", "keep_mask", "apply_mask"]

# Elements per chunk when drawing large masks on the CPU: the random bytes of a
# chunk stay in cache between the draw and their use (2**18 elements).
CPU_CHUNK = 1 << 18
_TWO_32 = 1 << 32
_INT32_MIN = -(2**31)


def threshold(p: float) -> int:
    """``t = round(p * 2**32)``: an element is kept when its 32-bit uniform ``U >= t``.

    ``t`` is in ``[0, 2**32]``; for p within 2**-33 of 1 it is 2**32 and
    nothing is kept (the bits are still drawn, so the generator advances as
    for any other p).
    """
    return round(p * _TWO_32)


def _random_words(count: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    # Full-range int64 words: a plain ``random_()`` leaves the sign bit of every
    # word at 0, which would bias the top byte of every word.
    return torch.empty(count, dtype=torch.int64, device=device).random_(-(2**63), None, generator=generator)


def _fill_from_words(out: torch.Tensor, t: int, generator: torch.Generator | None) -> torch.Tensor:
    """One 32-bit draw per element (any device): ``out = U >= t``."""
    n = out.numel()
    words = _random_words((n + 1) // 2, out.device, generator).view(torch.int32)[:n]
    if t >= _TWO_32:
        return out.fill_(False)
    # U = word + 2**31 as an unsigned number.
    return torch.ge(words, t + _INT32_MIN, out=out)


def _fill_from_top_bytes(out: torch.Tensor, t: int, generator: torch.Generator | None) -> torch.Tensor:
    """The CPU draw when ``t`` is a multiple of 2**24: ``out = top byte of U >= t / 2**24``."""
    n = out.numel()
    hi = t >> 24
    top = _random_words((n + 7) // 8, out.device, generator).view(torch.uint8)[:n]
    if hi == 0:
        return out.fill_(True)
    if hi == 256:  # t == 2**32
        return out.fill_(False)
    # Writes 0/1 bytes into the bool tensor: 1 exactly when byte >= hi.
    torch.clamp(top, hi - 1, hi, out=out.view(torch.uint8)).sub_(hi - 1)
    return out


def _traceable_keep_mask(shape: torch.Size, t: int, device: torch.device) -> torch.Tensor:
    """``U >= t`` from one out-of-place draw, which ``torch.compile`` traces (``random_`` breaks the graph)."""
    if t >= _TWO_32:
        return torch.zeros(shape, dtype=torch.bool, device=device)
    words = torch.randint(_INT32_MIN, 2**31, shape, dtype=torch.int32, device=device)
    return words >= t + _INT32_MIN


def fill_keep_mask(out: torch.Tensor, t: int, generator: torch.Generator | None) -> torch.Tensor:
    """Fill the 1-D bool tensor ``out`` (at most ``CPU_CHUNK`` elements on the CPU) with a fresh keep mask."""
    if out.device.type == "cpu" and t % (1 << 24) == 0:
        return _fill_from_top_bytes(out, t, generator)
    return _fill_from_words(out, t, generator)


def draw_keep_mask(
    shape: torch.Size, p: float, device: torch.device, generator: torch.Generator | None
) -> torch.Tensor:
    """A bool mask of ``shape`` on ``device``, True with probability ``1 - p`` (p already validated)."""
    t = threshold(p)
    if generator is None and torch.compiler.is_compiling():
        return _traceable_keep_mask(shape, t, device)
    mask = torch.empty(shape, dtype=torch.bool, device=device)
    flat = mask.view(-1)
    n = flat.numel()
    if device.type != "cpu" or n <= CPU_CHUNK:
        fill_keep_mask(flat, t, generator)
        return mask
    for start in range(0, n, CPU_CHUNK):
        fill_keep_mask(flat[start : start + CPU_CHUNK], t, generator)
    return mask


def keep_mask(
    shape: torch.Size | tuple[int, ...],
    p: float,
    *,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A boolean mask of ``shape``, True (keep) with probability ``1 - p``.

    This is exactly the mask :func:`dropout` draws for an input of this shape
    on this device from the same generator state: an element is kept when a
    32-bit uniform integer is at least ``round(p * 2**32)`` (see
    :mod:`reglab.regularizers.masks`).
    """
    p = check_probability("p", p)
    generator = check_generator("generator", generator)
    if device is None:
        device = generator.device if generator is not None else torch.device("cpu")
    return draw_keep_mask(torch.Size(shape), p, torch.device(device), generator)


def apply_mask(x: torch.Tensor, mask: torch.Tensor, scale: float, inplace: bool) -> torch.Tensor:
    """``(x * mask) * scale``, differentiable, saving only the 1-byte mask.

    The bool mask is used through a uint8 view, which the CPU converts to float
    faster than a bool tensor. Autograd saves ``mask`` alone (it needs no gradient); the backward is
    ``(grad * scale) * mask`` in the gradient's dtype, which is exactly what
    ``torch.nn.functional.dropout``'s backward computes with the same mask.
    (``addcmul`` would be one pass, but its backward forms ``mask * scale`` in
    float32, losing float64 precision.)
    """
    mask = mask.view(torch.uint8)
    if inplace:
        return x.mul_(mask).mul_(scale)
    return x.mul(mask).mul_(scale)
