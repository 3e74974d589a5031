"""SLERP: spherical linear interpolation of two parents (Shoemake 1985; mergekit slerp)."""

from __future__ import annotations

import torch
from torch import Tensor


def slerp(
    tensors: list[Tensor],
    base: Tensor | None = None,
    *,
    t: float = 0.5,
    eps: float = 5e-4,
) -> Tensor:
    """Interpolate along the great circle between the flattened parents, with factor t.

    The angle comes from normalised copies; the weights sin((1-t)θ)/sinθ and sin(tθ)/sinθ apply
    to the originals. Near-colinear (|cos θ| > 1 - eps) or zero tensors fall back to lerp.
    """
    if len(tensors) != 2:
        raise ValueError(f"slerp merges exactly 2 parents, got {len(tensors)}")
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"slerp factor t must be in [0, 1], got {t}")
    v0, v1 = tensors
    a, b = v0.flatten().double(), v1.flatten().double()
    na, nb = a.norm(), b.norm()
    if na < 1e-12 or nb < 1e-12:
        return torch.lerp(v0, v1, t)
    cos = torch.dot(a / na, b / nb).clamp(-1.0, 1.0)
    if cos.abs() > 1.0 - eps:
        return torch.lerp(v0, v1, t)
    theta = torch.arccos(cos)
    s0 = torch.sin((1.0 - t) * theta) / torch.sin(theta)
    s1 = torch.sin(t * theta) / torch.sin(theta)
    return (s0.item() * v0 + s1.item() * v1).to(v0.dtype)
