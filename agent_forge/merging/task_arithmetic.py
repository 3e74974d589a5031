"""Task arithmetic: "Editing Models with Task Arithmetic" (Ilharco et al. 2023)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from agent_forge.merging.linear import resolve_weights


def task_arithmetic(
    tensors: list[Tensor],
    base: Tensor | None,
    *,
    weights: Sequence[float] | None = None,
) -> Tensor:
    """base + sum_i w_i (theta_i - base); weights default to 1/n (the mean task vector).

    The paper's single scaling coefficient λ is weights = (λ, λ, ...). base is Phase 1's shared
    initialisation (SPEC_NOTES correction 1).
    """
    if base is None:
        raise ValueError("task_arithmetic needs a base tensor")
    w = resolve_weights(weights, len(tensors), 1.0 / len(tensors))
    out = base.clone()
    for wi, t in zip(w, tensors, strict=True):
        out += wi * (t - base)
    return out
