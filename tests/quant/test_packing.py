from __future__ import annotations

import math

import pytest
import torch

from agent_forge.quant import BITS_PER_WEIGHT, pack_ternary, ternary_quantize, unpack_ternary


def trits(*values: int) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int8)


@pytest.mark.parametrize("shape", [(1,), (4,), (5,), (6,), (1001,), (7, 13), (0,)])
def test_pack_unpack_identity(shape):
    q = torch.randint(-1, 2, shape, generator=torch.Generator().manual_seed(0), dtype=torch.int8)
    packed, packed_shape = pack_ternary(q)
    assert packed.dtype == torch.uint8 and packed.dim() == 1
    assert packed.numel() == math.ceil(q.numel() / 5)
    out = unpack_ternary(packed, packed_shape)
    assert out.dtype == torch.int8 and torch.equal(out, q)


def test_byte_values_by_hand():
    # (1, -1, 0, 1, -1) -> digits t + 1 = (2, 0, 1, 2, 0) -> 2 + 0*3 + 1*9 + 2*27 + 0*81 = 65.
    assert pack_ternary(trits(1, -1, 0, 1, -1))[0].tolist() == [65]
    assert pack_ternary(trits(-1, -1, -1, -1, -1))[0].tolist() == [0]
    assert pack_ternary(trits(1, 1, 1, 1, 1))[0].tolist() == [242]  # 3^5 - 1: fits a byte
    # A lone 1 is padded with four trit-0s (digit 1): 2 + 3 + 9 + 27 + 81 = 122.
    assert pack_ternary(trits(1))[0].tolist() == [122]


def test_quantised_weight_packs_at_1_6_bits():
    q, _ = ternary_quantize(torch.randn(40, 25, generator=torch.Generator().manual_seed(0)))
    packed, shape = pack_ternary(q)
    assert packed.numel() * 8 / q.numel() == BITS_PER_WEIGHT == 1.6
    assert torch.equal(unpack_ternary(packed, shape), q)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="-1, 0, 1"):
        pack_ternary(trits(0, 2))
    with pytest.raises(ValueError, match="integer"):
        pack_ternary(torch.zeros(3))
    with pytest.raises(ValueError, match="cannot hold"):
        unpack_ternary(torch.zeros(2, dtype=torch.uint8), (11,))
