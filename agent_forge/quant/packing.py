"""Ternary packing at 5 trits per byte (3^5 = 243 <= 256): 8/5 = 1.6 bits per weight.

Base 3, least significant digit first: byte = sum_i (t_i + 1) * 3^i over i = 0..4.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

TRITS_PER_BYTE = 5
BITS_PER_WEIGHT = 8 / TRITS_PER_BYTE


def _powers(device: torch.device) -> Tensor:
    return torch.tensor([1, 3, 9, 27, 81], dtype=torch.int16, device=device)  # 3^i, i = 0..4


def pack_ternary(q: Tensor) -> tuple[Tensor, torch.Size]:
    """Pack a tensor of {-1, 0, 1} into ceil(n / 5) uint8 bytes; returns (bytes, original shape).

    The flat tensor is padded with trit 0 to a multiple of 5; unpack drops the padding.
    """
    if q.is_floating_point() or q.is_complex():
        raise ValueError(f"pack_ternary needs an integer tensor, got {q.dtype}")
    digits = q.flatten().to(torch.int16) + 1  # (n,) in {0, 1, 2}
    if digits.numel() and (digits.min() < 0 or digits.max() > 2):
        raise ValueError("pack_ternary needs values in {-1, 0, 1}")
    digits = F.pad(digits, (0, -digits.numel() % TRITS_PER_BYTE), value=1)
    packed = (digits.view(-1, TRITS_PER_BYTE) * _powers(q.device)).sum(1)  # (ceil(n/5),) <= 242
    return packed.to(torch.uint8), q.shape


def unpack_ternary(packed: Tensor, shape: torch.Size | tuple[int, ...]) -> Tensor:
    """Inverse of `pack_ternary`: the int8 tensor of {-1, 0, 1} with the given shape."""
    n = torch.Size(shape).numel()
    if packed.numel() != -(-n // TRITS_PER_BYTE):
        raise ValueError(f"{packed.numel()} packed bytes cannot hold shape {tuple(shape)}")
    digits = packed.to(torch.int16).unsqueeze(1) // _powers(packed.device) % 3  # (bytes, 5)
    return (digits.flatten()[:n] - 1).to(torch.int8).view(shape)
