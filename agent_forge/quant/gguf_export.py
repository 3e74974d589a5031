"""GGUF export of a packed ternary model with llama.cpp's ternary types (TQ1_0: 1.69 bits per
weight, TQ2_0: 2.06), through the `gguf` package (ggml's own Python writer).

ggml quantises along a tensor's rows (ne[0] = in_features) in blocks of QK_K = 256 weights with one
fp16 scale each (`gguf.constants.GGML_QUANT_SIZES`). A ternary weight whose rows are not a multiple
of 256 cannot take a TQ type and is written as F16 instead; `GGUFExport.fallbacks` lists them.
For an absmean-ternary weight q * s, a block's absmax is s (or 0), so TQ1_0 / TQ2_0 store exactly
the trits of the packed model and s in fp16. Tensor names are the Hugging Face names: llama.cpp has
no Cognate architecture, so the file is a faithful container, not a llama.cpp-runnable model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFWriter, quants

from agent_forge.quant.packed_model import PackedModel, dequantize_state

TernaryType = Literal["TQ1_0", "TQ2_0"]
ARCH = "cognate"


@dataclass
class GGUFExport:
    """What was written: the path, each tensor's GGML type, and the ternary weights that fell
    back to F16 with the reason."""

    path: str
    ternary_type: str
    tensor_types: dict[str, str] = field(default_factory=dict)
    fallbacks: dict[str, str] = field(default_factory=dict)
    file_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ternary_type": self.ternary_type,
            "tensor_types": self.tensor_types,
            "fallbacks": self.fallbacks,
            "file_bytes": self.file_bytes,
        }


def ternary_type_fits(shape: list[int], qtype: TernaryType) -> str | None:
    """None if a weight of `shape` (out, in) can be stored as `qtype`; else the reason."""
    block, _ = GGML_QUANT_SIZES[GGMLQuantizationType[qtype]]
    if shape[-1] % block:
        return f"row length {shape[-1]} is not a multiple of {qtype}'s block of {block}"
    return None


def _hparams(writer: GGUFWriter, config: Any) -> None:
    writer.add_name(str(getattr(config, "model_type", ARCH)))
    writer.add_context_length(int(config.max_position_embeddings))
    writer.add_embedding_length(int(config.hidden_size))
    writer.add_feed_forward_length(int(config.intermediate_size))
    writer.add_block_count(int(config.num_hidden_layers))
    writer.add_head_count(int(config.num_attention_heads))
    writer.add_vocab_size(int(config.vocab_size))
    writer.add_string("agent_forge.hf_config", json.dumps(config.to_dict(), default=str))


def export_gguf(
    packed: PackedModel, config: Any, path: str | Path, ternary_type: TernaryType = "TQ1_0"
) -> GGUFExport:
    """Write `packed` as GGUF: ternary weights as `ternary_type` where the shape allows (else
    F16), kept 2-D tensors as F16, 1-D tensors (norms, biases) as F32. Tied tensors once."""
    if ternary_type not in ("TQ1_0", "TQ2_0"):
        raise ValueError(f"ternary_type must be TQ1_0 or TQ2_0, got {ternary_type!r}")
    qtype = GGMLQuantizationType[ternary_type]
    state = dequantize_state(packed, torch.float32)
    out = GGUFExport(str(path), ternary_type)
    writer = GGUFWriter(str(path), ARCH)
    _hparams(writer, config)
    writer.add_string("agent_forge.aliases", json.dumps(packed.aliases))
    for name, info in packed.layout.items():
        data = state[name].numpy().astype(np.float32)
        reason = ternary_type_fits(info["shape"], ternary_type) if data.ndim == 2 else "not 2-D"
        if info["kind"] == "ternary" and reason is None:
            writer.add_tensor(name, quants.quantize(data, qtype), raw_dtype=qtype)
            out.tensor_types[name] = ternary_type
            continue
        if info["kind"] == "ternary":
            out.fallbacks[name] = reason or "unknown"
        if data.ndim >= 2:
            writer.add_tensor(name, data.astype(np.float16))
            out.tensor_types[name] = "F16"
        else:
            writer.add_tensor(name, data)
            out.tensor_types[name] = "F32"
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    out.file_bytes = Path(path).stat().st_size
    return out
