"""Hand a ~25M-parameter fp32 state dict from one Ray worker to another: object store vs file.

(a) worker A `put_state_dict`s it, the ref goes to worker B, which `get_state_dict`s it
(zero-copy); (b) A writes a safetensors file, B `load_file`s it. Each repeat uses a fresh
consumer actor, so its RSS high-water mark (ru_maxrss) is that hand-off's alone.

    python benchmarks/object_store.py --params 25e6 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import ray
import torch

from agent_forge.config.schema import RayConfig
from agent_forge.runtime.object_store import get_state_dict, put_state_dict
from agent_forge.runtime.ray_runtime import start_ray

HIDDEN, VOCAB, LAYERS = 512, 12000, 8
MB = 2**20


def build_shapes(params: int) -> dict[str, tuple[int, ...]]:
    """Llama-like shapes (embeddings 12000x512, 8 layers); the MLP width makes the total fit."""
    h = HIDDEN
    fixed = VOCAB * h + h + LAYERS * (4 * h * h + 2 * h)
    inter = round((params - fixed) / (LAYERS * 3 * h))
    if inter < 1:
        raise SystemExit(f"--params {params} is below the {fixed} of embeddings and attention")
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (VOCAB, h)}
    for i in range(LAYERS):
        p = f"model.layers.{i}"
        for proj in ("q", "k", "v", "o"):
            shapes[f"{p}.self_attn.{proj}_proj.weight"] = (h, h)
        shapes[f"{p}.mlp.gate_proj.weight"] = (inter, h)
        shapes[f"{p}.mlp.up_proj.weight"] = (inter, h)
        shapes[f"{p}.mlp.down_proj.weight"] = (h, inter)
        shapes[f"{p}.input_layernorm.weight"] = (h,)
        shapes[f"{p}.post_attention_layernorm.weight"] = (h,)
    shapes["model.norm.weight"] = (h,)
    return shapes


def _memory() -> dict[str, float]:
    proc = psutil.Process()
    return {
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
        "uss_mb": proc.memory_full_info().uss / MB,  # private pages only
    }


def _checksum(sd: dict[str, torch.Tensor]) -> int:
    """Exact (integer) sum of the fp32 bit patterns: reads every byte, any order gives one value."""
    # numpy casts in small buffers: no full-size int64 temporary inflates the memory numbers
    return sum(int(t.numpy().view(np.int32).sum(dtype=np.int64)) for t in sd.values())


@ray.remote(num_cpus=1)
class Producer:
    def __init__(self, params: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.sd = {k: torch.randn(s, generator=g) for k, s in build_shapes(params).items()}

    def describe(self) -> dict[str, Any]:
        n = sum(t.numel() for t in self.sd.values())
        return {"parameters": n, "mb": n * 4 / MB, "checksum": _checksum(self.sd)}

    def via_object_store(self) -> tuple[list[ray.ObjectRef], float]:
        t0 = time.monotonic()
        ref = put_state_dict(self.sd)
        return [ref], time.monotonic() - t0  # in a list: B resolves it itself

    def via_safetensors(self, path: str) -> tuple[str, float]:
        from safetensors.torch import save_file

        t0 = time.monotonic()
        save_file(self.sd, path)
        return path, time.monotonic() - t0


@ray.remote(num_cpus=1)
class Consumer:
    def ready(self) -> dict[str, float]:
        import safetensors.torch  # noqa: F401 - imports stay out of the timed part

        return _memory()

    def consume(self, method: str, handoff: tuple[Any, float]) -> dict[str, Any]:
        from safetensors.torch import load_file

        payload, producer_s = handoff
        t0 = time.monotonic()
        sd = get_state_dict(payload[0]) if method == "object_store" else load_file(payload)
        loaded_at = time.monotonic()
        mem_loaded = _memory()
        checksum = _checksum(sd)  # touches every byte, as any real use would
        return {
            "producer_s": producer_s,
            "consumer_s": loaded_at - t0,
            "loaded_at": loaded_at,
            "checksum": checksum,
            "loaded": mem_loaded,
            "used": _memory(),
        }


def run_once(producer: Any, method: str, tmp: Path) -> dict[str, Any]:
    consumer = Consumer.remote()
    base = ray.get(consumer.ready.remote())
    path = tmp / "model.safetensors"
    t0 = time.monotonic()
    if method == "object_store":
        handoff = producer.via_object_store.remote()
    else:
        handoff = producer.via_safetensors.remote(str(path))
    out = ray.get(consumer.consume.remote(method, handoff))
    total = time.monotonic() - t0
    ray.kill(consumer)
    del handoff
    path.unlink(missing_ok=True)
    return {
        "handoff_s": out["loaded_at"] - t0,  # CLOCK_MONOTONIC is system-wide on Linux
        "with_checksum_s": total,
        "producer_s": out["producer_s"],
        "consumer_s": out["consumer_s"],
        "checksum": out["checksum"],
        "rss_delta_loaded_mb": out["loaded"]["maxrss_mb"] - base["maxrss_mb"],
        "rss_delta_used_mb": out["used"]["maxrss_mb"] - base["maxrss_mb"],
        "uss_delta_loaded_mb": out["loaded"]["uss_mb"] - base["uss_mb"],
        "uss_delta_used_mb": out["used"]["uss_mb"] - base["uss_mb"],
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k in runs[0] if k != "checksum"]
    return {k: statistics.median(r[k] for r in runs) for k in keys} | {"runs": runs}


def _fs_type(path: Path) -> str | None:
    mounts = [p for p in psutil.disk_partitions(all=True) if path.is_relative_to(p.mountpoint)]
    return max(mounts, key=lambda p: len(p.mountpoint)).fstype if mounts else None


def machine_info(tmp: Path) -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "ray": ray.__version__,
        "tmp_dir": str(tmp),
        "tmp_fs": _fs_type(tmp),
    }


def print_table(results: dict[str, dict[str, Any]], info: dict[str, Any]) -> None:
    rows = [
        ("hand-off, median s (to tensors in B)", "handoff_s", "{:.3f}"),
        ("  producer put / save, s", "producer_s", "{:.3f}"),
        ("  consumer get / load, s", "consumer_s", "{:.3f}"),
        ("hand-off + checksum, median s", "with_checksum_s", "{:.3f}"),
        ("consumer peak RSS delta loaded, MB", "rss_delta_loaded_mb", "{:.0f}"),
        ("consumer peak RSS delta used, MB", "rss_delta_used_mb", "{:.0f}"),
        ("consumer private (USS) delta loaded, MB", "uss_delta_loaded_mb", "{:.0f}"),
        ("consumer private (USS) delta used, MB", "uss_delta_used_mb", "{:.0f}"),
    ]
    print(
        f"\n{info['parameters']:,} fp32 parameters ({info['mb']:.0f} MB), {info['repeats']} repeats"
    )
    print(f"{'':42} {'object store':>14} {'safetensors':>14}")
    for label, key, fmt in rows:
        a, b = (fmt.format(results[m][key]) for m in ("object_store", "safetensors"))
        print(f"{label:42} {a:>14} {b:>14}")
    print(f"time ratio object store / safetensors: {info['ratio']:.3f}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--params", type=float, default=25e6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/object_store.json"))
    ap.add_argument("--tmp-dir", type=Path, default=None, help="where (b) writes its file")
    args = ap.parse_args()

    handle = start_ray(RayConfig(num_cpus=2, include_dashboard=False))
    tmp = Path(tempfile.mkdtemp(prefix="af-bench-", dir=args.tmp_dir))
    try:
        producer = Producer.remote(int(args.params), seed=0)
        described = ray.get(producer.describe.remote())
        results = {}
        for method in ("object_store", "safetensors"):
            runs = [run_once(producer, method, tmp) for _ in range(args.repeats)]
            bad = [r["checksum"] for r in runs if r["checksum"] != described["checksum"]]
            if bad:
                raise SystemExit(f"{method}: checksum {bad[0]} != {described['checksum']}")
            results[method] = summarize(runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = results["object_store"]["handoff_s"] / results["safetensors"]["handoff_s"]
    workload = described | {"repeats": args.repeats, "ratio": ratio}
    print_table(results, workload)
    report = {"machine": machine_info(tmp), "workload": workload, "results": results}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")
    handle.shutdown()


if __name__ == "__main__":
    main()
