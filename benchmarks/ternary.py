"""BitNet b1.58 packing and inference on a CPU, per model size:

1. quantise-and-pack time (absmean ternary, 5 trits per byte, safetensors write) and the bytes on
   disk vs the FP32 checkpoint, whole model and the quantised linear layers alone;
2. unpack time: read the packed file and rebuild the model (ternary int8 layers, and dequantised);
3. forward latency at batch 1 of the unpacked ternary model (int8 activations x int8 trits,
   torch._int_mm) vs FP32, median and p90 of --repeats, after a warm-up;
4. GGUF export (TQ1_0 where rows are a multiple of 256) time and bytes.

Each with the kept tensors (embeddings, tied head, norms) stored in each of --kept-dtypes.

Weights are random (size and speed do not depend on them).

    python benchmarks/ternary.py                                   # consumer-gpu, seq 512
    python benchmarks/ternary.py --sizes tiny consumer-gpu --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from agent_forge.eval.probes import bytes_on_disk, measure_latency
from agent_forge.model import CognateForCausalLM, cognate_consumer_gpu_config, cognate_tiny_config
from agent_forge.quant.gguf_export import export_gguf
from agent_forge.quant.packed_model import (
    WEIGHTS_FILE,
    load_packed,
    pack_model,
    save_packed,
    tensor_file_bytes,
)

SIZES = {"tiny": (cognate_tiny_config, 4096), "consumer-gpu": (cognate_consumer_gpu_config, 12000)}


def _timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def bench(size: str, kept: str, tmp: Path, seq_len: int, repeats: int) -> dict[str, Any]:
    build, vocab = SIZES[size]
    torch.manual_seed(0)
    model = CognateForCausalLM(build(vocab_size=vocab)).eval()
    model.save_pretrained(tmp / "fp32")
    packed, t_quant = _timed(lambda: pack_model(model, kept_dtype=kept))  # type: ignore[arg-type]
    _, t_save = _timed(lambda: save_packed(packed, tmp / "packed", model.config))
    ternary, t_unpack = _timed(lambda: load_packed(tmp / "packed", "ternary"))
    _, t_deq = _timed(lambda: load_packed(tmp / "packed", "dequantized"))
    gguf, t_gguf = _timed(lambda: export_gguf(packed, model.config, tmp / "m.gguf"))
    fp32_file = tmp / "fp32" / "model.safetensors"
    packed_file = tmp / "packed" / WEIGHTS_FILE
    spans, pspans = tensor_file_bytes(fp32_file), tensor_file_bytes(packed_file)
    names = packed.ternary_names()
    lin_fp32 = sum(spans[n] for n in names)
    lin_packed = sum(pspans[f"{n}.trits"] + pspans[f"{n}.scale"] for n in names)
    t_fp32 = measure_latency(model, seq_len, repeats)  # the probe Phase 4 reports with
    t_ternary = measure_latency(ternary, seq_len, repeats)
    fp32_bytes, packed_bytes = bytes_on_disk(fp32_file), bytes_on_disk(packed_file)
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "ternary_weights": sum(torch.Size(packed.layout[n]["shape"]).numel() for n in names),
        "quantize_s": t_quant,
        "save_s": t_save,
        "unpack_ternary_s": t_unpack,
        "unpack_dequantized_s": t_deq,
        "fp32_bytes": fp32_bytes,
        "packed_bytes": packed_bytes,
        "ratio": fp32_bytes / packed_bytes,
        "linear_fp32_bytes": lin_fp32,
        "linear_packed_bytes": lin_packed,
        "linear_ratio": lin_fp32 / lin_packed,
        "gguf_s": t_gguf,
        "gguf_bytes": gguf.file_bytes,
        "gguf_fallbacks": sorted(gguf.fallbacks),
        "seq_len": seq_len,
        "fp32_forward_s": t_fp32.median_s,
        "ternary_forward_s": t_ternary.median_s,
        "fp32_forward_p90_s": t_fp32.p90_ms / 1000,
        "ternary_forward_p90_s": t_ternary.p90_ms / 1000,
        "speedup": t_fp32.median_s / t_ternary.median_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["consumer-gpu"], choices=list(SIZES))
    ap.add_argument(
        "--kept-dtypes",
        nargs="+",
        default=["fp16", "int8"],
        choices=["fp16", "fp32", "int8"],
        help="Storage of embeddings, heads, norms.",
    )
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads.")
    ap.add_argument("--out", default="benchmarks/results/ternary.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict[str, Any] = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "sizes": {},
    }
    for size in args.sizes:
        for kept in args.kept_dtypes:
            with tempfile.TemporaryDirectory() as tmp:
                row = bench(size, kept, Path(tmp), args.seq_len, args.repeats)
                results["sizes"][f"{size}/{kept}"] = row
    mb = 1024 * 1024
    print(
        f"{'size/kept':<19}{'params':>11}{'quant s':>9}{'unpack s':>10}{'fp32 MB':>9}"
        f"{'packed MB':>11}{'ratio':>7}{'linear':>8}{'gguf MB':>9}{'fp32 ms':>9}{'tern ms':>9}"
        f"{'speedup':>9}"
    )
    for size, r in results["sizes"].items():
        print(
            f"{size:<19}{r['parameters']:>11,}{r['quantize_s'] + r['save_s']:>9.2f}"
            f"{r['unpack_ternary_s']:>10.2f}{r['fp32_bytes'] / mb:>9.2f}"
            f"{r['packed_bytes'] / mb:>11.2f}{r['ratio']:>6.2f}x{r['linear_ratio']:>7.2f}x"
            f"{r['gguf_bytes'] / mb:>9.2f}{1000 * r['fp32_forward_s']:>9.1f}"
            f"{1000 * r['ternary_forward_s']:>9.1f}{r['speedup']:>8.2f}x"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
