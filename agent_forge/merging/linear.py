"""Linear merge: weighted parameter average ("model soups", Wortsman et al. 2022).

mergekit: linear.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def resolve_weights(weights: Sequence[float] | None, n: int, default: float) -> list[float]:
    """One weight per parent; `default` each when None. ValueError on a length mismatch."""
    if weights is None:
        return [default] * n
    if len(weights) != n:
        raise ValueError(f"got {len(weights)} weights for {n} parents")
    return [float(w) for w in weights]


def linear(
    tensors: list[Tensor],
    base: Tensor | None = None,
    *,
    weights: Sequence[float] | None = None,
    normalize: bool = True,
) -> Tensor:
    """sum_i w_i theta_i, divided by sum_i w_i when `normalize`; weights default to the mean."""
    w = resolve_weights(weights, len(tensors), 1.0 if normalize else 1.0 / len(tensors))
    if normalize:
        total = sum(w)
        if total == 0:
            raise ValueError(f"linear weights {w} sum to 0; cannot normalise")
        w = [wi / total for wi in w]
    out = torch.zeros_like(tensors[0])
    for wi, t in zip(w, tensors, strict=True):
        out += wi * t
    return out
