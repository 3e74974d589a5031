"""DARE: "Language Models are Super Mario" (Yu et al. 2024), drop-and-rescale.

mergekit: dare_linear.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from agent_forge.merging.linear import resolve_weights


def dare(
    tensors: list[Tensor],
    base: Tensor | None,
    *,
    weights: Sequence[float] | None = None,
    p: float = 0.9,
    seed: int = 0,
) -> Tensor:
    """base + sum_i w_i · m_i ⊙ (theta_i - base) / (1 - p), m_i ~ Bernoulli(1 - p) elementwise.

    The rescale keeps every task vector's expectation; weights default to 1/n. Masks come from a
    CPU `torch.Generator` seeded with `seed`, so one seed gives one result on any device.
    """
    if base is None:
        raise ValueError("dare needs a base tensor")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dare drop probability p must be in [0, 1), got {p}")
    w = resolve_weights(weights, len(tensors), 1.0 / len(tensors))
    gen = torch.Generator().manual_seed(int(seed))
    out = base.clone()
    for wi, t in zip(w, tensors, strict=True):
        keep = torch.rand(t.shape, generator=gen) >= p  # (*shape), P(keep) = 1 - p
        out += wi * (t - base) * keep.to(t.device, t.dtype) / (1.0 - p)
    return out
