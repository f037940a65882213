"""Independent random streams derived from one experiment seed.

An experiment seeded with ``seed`` often needs several generators (data,
initial weights, batch order, dropout masks). Seeding them all with ``seed``
would make them draw the *same* numbers (the initial weights would equal the
first data features), so each stream gets its own seed, mixed from
``(seed, stream)`` with SplitMix64's finaliser. The mapping is a pure function,
so another backend (e.g. the sweeps' vectorized trainer) reproduces every
stream exactly.
"""

from __future__ import annotations

__all__ = ["stream_seed"]

_MASK64 = (1 << 64) - 1


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
