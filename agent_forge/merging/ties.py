"""TIES-Merging: "Resolving Interference When Merging Models" (Yadav et al. 2023; mergekit ties)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from agent_forge.merging.linear import resolve_weights


def trim(tv: Tensor, density: float) -> Tensor:
    """Keep the top `density` fraction of entries of `tv` by magnitude (at least one), zero the
    rest."""
    if density >= 1.0:
        return tv
    k = max(1, int(density * tv.numel()))
    flat = tv.flatten()
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[flat.abs().topk(k).indices] = True
    return (flat * mask).view_as(tv)


def ties(
    tensors: list[Tensor],
    base: Tensor | None,
    *,
    weights: Sequence[float] | None = None,
    density: float = 0.2,
    lam: float = 1.0,
) -> Tensor:
    """Trim each task vector to its top-`density` magnitudes, elect a sign per entry, disjoint mean.

    Sign election is mergekit's "sum": sign(sum_i w_i tau_i), + on ties. The merged entry is the
    weighted mean of the w_i tau_i whose sign agrees with it (0 where none does);
    out = base + λ·that.
    """
    if base is None:
        raise ValueError("ties needs a base tensor")
    if not 0.0 < density <= 1.0:
        raise ValueError(f"ties density must be in (0, 1], got {density}")
    w = resolve_weights(weights, len(tensors), 1.0)
    wt = torch.tensor(w, dtype=base.dtype, device=base.device).view(-1, *[1] * base.dim())
    tvs = torch.stack([trim(t - base, density) for t in tensors]) * wt  # (n, *shape)
    elected = torch.where(tvs.sum(0) >= 0, 1.0, -1.0).to(base.dtype)  # (*shape)
    agree = tvs.sign() == elected  # zeros (trimmed) never agree
    total = (tvs * agree).sum(0)
    divisor = (wt * agree).sum(0)
    merged = total / torch.where(divisor == 0, torch.ones_like(divisor), divisor)
    return base + lam * merged
