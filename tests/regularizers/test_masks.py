"""reglab's keep masks against the plain rule "keep when a 32-bit uniform U >= round(p * 2**32)".

When ``p * 256`` is an integer the CPU draws only U's top byte and compares it
with uint8 arithmetic; otherwise it draws all 32 bits. These tests rebuild the
mask from the same generator state in plain Python integers and check every
element, so a slip in the byte arithmetic (the clamp bounds, the edges
p = 0, 1/256, 255/256, 1) shows as a wrong element.
"""

from __future__ import annotations

import pytest
import torch

import reglab.regularizers.masks as masks
from reglab import keep_mask


def _words(count: int, g: torch.Generator) -> torch.Tensor:
    return torch.empty(count, dtype=torch.int64).random_(-(2**63), None, generator=g)


def _reference_cpu_mask(n: int, p: float, g: torch.Generator) -> list[bool]:
    """The CPU mask of n elements from the raw words, in Python integers."""
    t = masks.threshold(p)
    if t % (1 << 24) == 0:  # only the top byte can matter: one byte per element
        return [(b << 24) >= t for b in _words((n + 7) // 8, g).view(torch.uint8)[:n].tolist()]
    return [(w + 2**31) >= t for w in _words((n + 1) // 2, g).view(torch.int32)[:n].tolist()]


@pytest.mark.parametrize(
    "p", [0.5, 0.25, 0.75, 1 / 256, 255 / 256, 0.0, 1.0 - 2.0**-40, 0.2, 1 / 3, 0.001, 0.999, 2.0**-30]
)
def test_cpu_mask_is_the_32_bit_rule_element_by_element(p):
    n = 20_003
    mask = keep_mask((n,), p, generator=torch.Generator().manual_seed(7))
    assert mask.tolist() == _reference_cpu_mask(n, p, torch.Generator().manual_seed(7))


@pytest.mark.parametrize("p, words_per_element", [(0.5, 1 / 8), (0.75, 1 / 8), (0.2, 1 / 2), (0.1, 1 / 2)])
def test_a_dyadic_p_draws_a_quarter_of_the_bits(p, words_per_element):
    n = 4096
    g = torch.Generator().manual_seed(3)
    keep_mask((n,), p, generator=g)
    expected = torch.Generator().manual_seed(3)
    _words(int(n * words_per_element), expected)
    assert torch.equal(g.get_state(), expected.get_state())


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_large_cpu_masks_drawn_in_chunks_equal_one_draw(monkeypatch, p):
    shape = (3, masks.CPU_CHUNK + 1000)  # several chunks
    chunked = keep_mask(shape, p, generator=torch.Generator().manual_seed(21))
    monkeypatch.setattr(masks, "CPU_CHUNK", 1 << 30)  # now one draw
    assert torch.equal(chunked, keep_mask(shape, p, generator=torch.Generator().manual_seed(21)))
