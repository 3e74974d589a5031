"""Which held-out examples a score is computed on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import zip_longest
from typing import Any, TypeVar

T = TypeVar("T")
_GAP = object()  # zip_longest filler: never an item


def stratified(items: Sequence[T], n: int, key: Callable[[T], Any]) -> list[T]:
    """Up to `n` items taken round-robin across the groups of `key` (in sorted key order, each
    group in its given order), so a capped sample covers every group instead of the first."""
    groups: dict[Any, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    ordered = [groups[k] for k in sorted(groups)]
    out = [x for row in zip_longest(*ordered, fillvalue=_GAP) for x in row if x is not _GAP]
    return out[:n]
