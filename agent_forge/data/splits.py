"""Split assignment by a hash of the normalised prompt: a prompt always lands in the same split, so
train / selection / test are disjoint by construction, whatever generated the prompt.
"""

from __future__ import annotations

import hashlib

from agent_forge.data.tasks.base import normalize_text

SPLITS: tuple[str, ...] = ("train", "selection", "test")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)


def check_fractions(fractions: tuple[float, ...]) -> tuple[float, ...]:
    if len(fractions) != len(SPLITS) or any(f < 0 for f in fractions):
        raise ValueError(f"splits must be {len(SPLITS)} non-negative fractions, got {fractions}")
    if abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"split fractions must sum to 1, got {fractions} (sum {sum(fractions)})")
    return tuple(fractions)


def split_of(prompt: str, fractions: tuple[float, ...] = DEFAULT_FRACTIONS) -> str:
    """The split of `prompt`: a uniform number from sha256(normalised prompt) against the
    fractions."""
    digest = hashlib.sha256(normalize_text(prompt).encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    edge = 0.0
    for name, frac in zip(SPLITS, fractions, strict=True):
        edge += frac
        if u < edge:
            return name
    return SPLITS[-1]  # u within float rounding of 1.0
