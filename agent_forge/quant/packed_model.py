"""The packed BitNet b1.58 model on disk: ternary linear weights at 5 trits per byte (1.6 bits)
with their absmean scales, the kept tensors (embeddings, heads, norms) in fp16 / fp32 or int8
with a per-row absmax scale, in one safetensors file; and the loader that unpacks it.

Folder layout: `model.ternary.safetensors` (tensors + a JSON layout in the header metadata),
`config.json` and the tokenizer (HF layout), `quantization_metadata.json`. Format: docs/quant.md.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from agent_forge.core.storage import atomic_write_json, save_model_dir
from agent_forge.quant.packing import pack_ternary, unpack_ternary
from agent_forge.quant.ternary import (
    DEFAULT_KEEP,
    BitLinear,
    TernaryLinear,
    ternary_dequantize,
    ternary_quantize,
)

FORMAT = "agent_forge.ternary/1"
WEIGHTS_FILE = "model.ternary.safetensors"
METADATA_FILE = "quantization_metadata.json"
KeptDtype = Literal["fp16", "fp32", "int8"]
_FLOAT = {"fp16": torch.float16, "fp32": torch.float32}


@dataclass
class PackedModel:
    """What the weights file holds: `tensors` by file key, `layout` per model tensor name
    ({"kind": "ternary" | "int8" | "float", "shape": [...], "per_row": bool}), and `aliases`
    (tied names -> the name stored once)."""

    tensors: dict[str, Tensor]
    layout: dict[str, dict[str, Any]]
    aliases: dict[str, str] = field(default_factory=dict)

    def nbytes(self) -> int:
        """Bytes of the stored tensors (trits, scales, kept tensors); the file adds its header."""
        return sum(t.numel() * t.element_size() for t in self.tensors.values())

    def ternary_names(self) -> list[str]:
        return [n for n, v in self.layout.items() if v["kind"] == "ternary"]

    def ternary(self, name: str) -> tuple[Tensor, Tensor]:
        """(q int8 in {-1, 0, 1} with the weight's shape, scale) of one ternary weight."""
        shape = self.layout[name]["shape"]
        return unpack_ternary(self.tensors[f"{name}.trits"], shape), self.tensors[f"{name}.scale"]

    def sparsity(self) -> float:
        """Share of zero trits over all ternary weights."""
        zeros = total = 0
        for name in self.ternary_names():
            q, _ = self.ternary(name)
            zeros, total = zeros + int((q == 0).sum()), total + q.numel()
        return zeros / total if total else 0.0


def ternary_module_names(model: nn.Module, keep: Sequence[str] = DEFAULT_KEEP) -> list[str]:
    """The linear layers `swap_in` quantises (plain nn.Linear or BitLinear, no `keep` substring)."""
    return [
        name
        for name, m in model.named_modules()
        if name and type(m) in (nn.Linear, BitLinear) and not any(k in name for k in keep)
    ]


def pack_model(
    model: nn.Module,
    keep: Sequence[str] = DEFAULT_KEEP,
    per_row: bool = False,
    kept_dtype: KeptDtype = "fp16",
) -> PackedModel:
    """Quantise `model`'s linear weights (absmean ternary) and pack them; keep the rest.

    With kept_dtype "int8", kept 2-D float tensors (embeddings, heads) become int8 with a per-row
    absmax scale (x ~= q * scale, |q| <= 127); 1-D tensors (norm gains, biases) stay fp16.
    A tensor tied to an earlier one (the LM head to the embeddings) is stored once.
    """
    if kept_dtype not in ("fp16", "fp32", "int8"):
        raise ValueError(f"kept_dtype must be fp16, fp32 or int8, got {kept_dtype!r}")
    ternary = {f"{n}.weight" for n in ternary_module_names(model, keep)}
    tensors: dict[str, Tensor] = {}
    layout: dict[str, dict[str, Any]] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple[int, tuple[int, ...]], str] = {}
    for name, t in model.state_dict(keep_vars=False).items():
        key = (t.data_ptr(), tuple(t.shape))
        if t.numel() and key in seen:
            aliases[name] = seen[key]
            continue
        seen[key] = name
        t = t.detach().cpu()
        if name in ternary:
            q, scale = ternary_quantize(t.float(), per_row)
            tensors[f"{name}.trits"], _ = pack_ternary(q)
            tensors[f"{name}.scale"] = scale.float().contiguous()
            layout[name] = {"kind": "ternary", "shape": list(t.shape), "per_row": per_row}
        elif kept_dtype == "int8" and t.is_floating_point() and t.dim() == 2:
            scale = t.float().abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127  # (rows, 1)
            tensors[f"{name}.int8"] = (t.float() / scale).round().clamp(-127, 127).to(torch.int8)
            tensors[f"{name}.int8_scale"] = scale
            layout[name] = {"kind": "int8", "shape": list(t.shape)}
        else:
            dtype = _FLOAT["fp16" if kept_dtype == "int8" else kept_dtype]
            tensors[name] = (t.to(dtype) if t.is_floating_point() else t).contiguous()
            layout[name] = {"kind": "float", "shape": list(t.shape), "dtype": str(t.dtype)}
    return PackedModel(tensors, layout, aliases)


def dequantize_state(packed: PackedModel, dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
    """The full state dict (aliases included): ternary weights as q * scale, int8 as q * scale."""
    state: dict[str, Tensor] = {}
    for name, info in packed.layout.items():
        if info["kind"] == "ternary":
            q, scale = packed.ternary(name)
            state[name] = ternary_dequantize(q, scale).to(dtype)
        elif info["kind"] == "int8":
            t = packed.tensors[f"{name}.int8"].float() * packed.tensors[f"{name}.int8_scale"]
            state[name] = t.to(dtype)
        else:
            t = packed.tensors[name]
            state[name] = t.to(dtype) if t.is_floating_point() else t
    for name, target in packed.aliases.items():
        state[name] = state[target]
    return state


def save_packed(
    packed: PackedModel,
    folder: str | Path,
    config: Any,
    tokenizer: Any = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write the packed folder atomically (weights, config.json, tokenizer, metadata JSON).

    `metadata` goes into quantization_metadata.json beside the format's own fields.
    """
    folder = Path(folder)
    header = {
        "format": FORMAT,
        "layout": json.dumps(packed.layout),
        "aliases": json.dumps(packed.aliases),
    }

    def writer(d: Path) -> None:
        save_file(packed.tensors, str(d / WEIGHTS_FILE), metadata=header)
        config.save_pretrained(d)
        if tokenizer is not None:
            tokenizer.save_pretrained(d)
        atomic_write_json(d / METADATA_FILE, describe(packed) | (metadata or {}))

    save_model_dir(folder, writer)
    return folder


def describe(packed: PackedModel) -> dict[str, Any]:
    """The format's part of quantization_metadata.json, counted from the packed tensors."""
    names = packed.ternary_names()
    weights = sum(torch.Size(packed.layout[n]["shape"]).numel() for n in names)
    trit_bytes = sum(packed.tensors[f"{n}.trits"].numel() for n in names)
    scale_bytes = sum(packed.tensors[f"{n}.scale"].numel() * 4 for n in names)
    return {
        "format": FORMAT,
        "weights_file": WEIGHTS_FILE,
        "quantization_bits": 1.58,  # log2(3): the information in a trit
        "ternary_weights": weights,
        "bits_per_weight_packed": 8 * trit_bytes / weights if weights else None,
        "bits_per_weight_with_scales": 8 * (trit_bytes + scale_bytes) / weights
        if weights
        else None,
        "sparsity": packed.sparsity(),
        "tensors": packed.layout,
        "aliases": packed.aliases,
    }


def read_packed(folder: str | Path) -> PackedModel:
    """The PackedModel stored in `folder` (its weights file)."""
    path = Path(folder) / WEIGHTS_FILE
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iter)
    return PackedModel(tensors, json.loads(meta["layout"]), json.loads(meta["aliases"]))


def load_packed(
    folder: str | Path,
    mode: Literal["dequantized", "ternary"] = "dequantized",
    dtype: torch.dtype = torch.float32,
    act_bits: int = 8,
) -> nn.Module:
    """Rebuild the model from a packed folder (eval mode).

    "dequantized": an ordinary model whose linear weights are q * scale in `dtype` (what Phase 5
    trains). "ternary": each ternary layer becomes a TernaryLinear holding int8 trits and its
    scale, with `act_bits` activations: the packed model's own inference.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    packed = read_packed(folder)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder))
    model.load_state_dict(dequantize_state(packed, torch.float32), strict=True)
    model = model.to(dtype).eval()
    if mode == "ternary":
        for name in packed.ternary_names():
            module = name.removesuffix(".weight")
            lin = model.get_submodule(module)
            q, scale = packed.ternary(name)
            parent, _, child = module.rpartition(".")
            setattr(model.get_submodule(parent), child, TernaryLinear(q, scale, lin.bias, act_bits))
    elif mode != "dequantized":
        raise ValueError(f"mode must be 'dequantized' or 'ternary', got {mode!r}")
    return model


def tensor_file_bytes(path: str | Path) -> dict[str, int]:
    """Bytes each tensor takes in a safetensors file, from its header's data offsets."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return {k: v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items()}
