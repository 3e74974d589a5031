"""Phase 4 quantisers: BitNet b1.58 ternary weights, BitLinear with the STE, 1.6-bit packing.

The packed model file (`packed_model`), calibration (`calibration`) and GGUF export
(`gguf_export`) are imported from their modules.
"""

from agent_forge.quant.packing import BITS_PER_WEIGHT, pack_ternary, unpack_ternary
from agent_forge.quant.ternary import (
    DEFAULT_KEEP,
    BitLinear,
    TernaryLinear,
    activation_quant,
    swap_in,
    swap_out,
    ternary_dequantize,
    ternary_quantize,
)

__all__ = [
    "BITS_PER_WEIGHT",
    "BitLinear",
    "DEFAULT_KEEP",
    "TernaryLinear",
    "activation_quant",
    "pack_ternary",
    "swap_in",
    "swap_out",
    "ternary_dequantize",
    "ternary_quantize",
    "unpack_ternary",
]
