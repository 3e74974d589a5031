"""Phase 1's training loop as a Ray Train job vs the same loop in a plain process.

Same model (Cognate, tiny and consumer-gpu sizes), same batch, same steps, same token stream and
the same thread count (the Ray worker's CPUs), side by side in one run. Reported separately:

- steady-state tokens/s: over the steps after `--warmup`, step end to step end, so the metric
  reports (every 10 steps; `ray.train.report` on Ray) are included; the step right after a
  checkpoint is left out and reported as
- checkpoint cost: its extra seconds (packing the state; on Ray also writing it with its
  metadata and the Train controller registering it);
- start-up: call -> first step done (model build + initial eval + first step; for Ray also the
  Train controller, the worker actor and the run folder), and its Ray-only excess;
- teardown: last step done -> the call returned.

    python benchmarks/train_throughput.py                      # tiny + consumer-gpu, CPU
    python benchmarks/train_throughput.py --sizes tiny --steps 60 --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from agent_forge.config.schema import RayConfig, RayTrainScalingConfig
from agent_forge.model import CognateForCausalLM, cognate_consumer_gpu_config, cognate_tiny_config
from agent_forge.runtime.train import ListReporter, run_train_job
from agent_forge.training import LMTrainConfig, train_lm

BUILDERS = {"tiny": cognate_tiny_config, "consumer-gpu": cognate_consumer_gpu_config}
DEFAULT_STEPS = {"tiny": 80, "consumer-gpu": 20}


def loop(cfg: dict[str, Any], reporter: Any, resume: Any) -> dict[str, Any]:
    """The measured body, identical in both arms (cloudpickled by value into the Ray worker)."""
    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(0)
    model = CognateForCausalLM(_model_config(cfg["size"], cfg["vocab"])).to(cfg["device"])
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, cfg["vocab"], (200_000,), generator=g)
    train = LMTrainConfig(**cfg["train"])
    return train_lm(model, tokens, tokens[:20_000], train, reporter.report, resume=None)


def _model_config(size: str, vocab: int) -> Any:
    """The preset as the profile of that name trains it in Phase 1 (tiny: ACT 2 steps)."""
    from agent_forge.config.loader import load_config

    act_steps = load_config(size).phases.cognate.act_max_steps
    overrides = {} if act_steps is None else {"act_max_steps": act_steps}
    return BUILDERS[size](vocab_size=vocab, **overrides)


def _summary(
    steps: list[dict[str, Any]],
    called: float,
    returned: float,
    batch_tokens: int,
    warmup: int,
    checkpoint_every: int,
) -> dict[str, float]:
    """Steady-state tokens/s over the steps after `warmup` that do not follow a checkpoint, and
    the mean extra seconds of the steps that do (the checkpoint's cost: packing the state, and
    on Ray writing and registering it)."""
    steps = sorted(steps, key=lambda m: m["step"])
    times = [m["time"] for m in steps]
    plain, after_ckpt = [], []
    for i in range(max(1, warmup), len(steps)):
        d = times[i] - times[i - 1]
        (
            after_ckpt if steps[i - 1]["step"] % checkpoint_every == checkpoint_every - 1 else plain
        ).append(d)
    typical = statistics.median(plain)
    return {
        "steady_tokens_per_s": batch_tokens * len(plain) / sum(plain),
        "checkpoint_s": statistics.mean(after_ckpt) - typical if after_ckpt else None,
        "startup_s": times[0] - called,
        "teardown_s": returned - times[-1],
        "wall_s": returned - called,
    }


def _flat(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-step metrics out of the batched reports (each report carries its steps)."""
    by_step = {m["step"]: m for r in history for m in r.get("steps", [r])}
    return list(by_step.values())


def run_plain(cfg: dict[str, Any], warmup: int) -> dict[str, float]:
    reporter = ListReporter()
    t0 = time.time()
    loop(cfg, reporter, None)
    return _summary(_flat(reporter.metrics), t0, time.time(), _tokens(cfg), warmup, _ckpt(cfg))


def run_ray(cfg: dict[str, Any], warmup: int, storage: str, name: str) -> dict[str, float]:
    scaling = RayTrainScalingConfig(
        num_workers=1, use_gpu=cfg["device"] == "cuda", cpus_per_worker=cfg["threads"]
    )
    t0 = time.time()
    result = run_train_job(loop, cfg, scaling, storage, name)
    return _summary(_flat(result.history), t0, time.time(), _tokens(cfg), warmup, _ckpt(cfg))


def _ckpt(cfg: dict[str, Any]) -> int:
    return cfg["train"]["checkpoint_every"]


def _tokens(cfg: dict[str, Any]) -> int:
    return cfg["train"]["batch_size"] * cfg["train"]["seq_len"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=list(BUILDERS), choices=list(BUILDERS))
    ap.add_argument("--steps", type=int, help="per run (default: tiny 60, consumer-gpu 12)")
    ap.add_argument("--warmup", type=int, default=2, help="steps left out of steady state")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1, help="torch threads = Ray worker CPUs")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "train_throughput.json")
    )
    args = ap.parse_args()

    from agent_forge.runtime.ray_runtime import start_ray

    start_ray(RayConfig(num_cpus=max(2, args.threads), include_dashboard=False))
    rows = []
    with tempfile.TemporaryDirectory(prefix="af_bench_") as storage:
        for size in args.sizes:
            steps = args.steps or DEFAULT_STEPS[size]
            cfg = {
                "size": size,
                "vocab": 2048 if size == "tiny" else 12000,
                "threads": args.threads,
                "device": args.device,
                "train": {
                    "steps": steps,
                    "batch_size": args.batch_size,
                    "seq_len": args.seq_len,
                    "eval_every": 10**6,  # evaluation is not what is measured
                    "checkpoint_every": max(1, steps // 2),  # one inside the window, timed apart
                    "eval_batches": 1,
                },
            }
            params = sum(
                p.numel() for p in CognateForCausalLM(BUILDERS[size](cfg["vocab"])).parameters()
            )
            plain = run_plain(cfg, args.warmup)
            ray_ = run_ray(cfg, args.warmup, storage, f"bench-{size}")
            rows.append(
                {
                    "size": size,
                    "parameters": params,
                    "steps": steps,
                    "plain": plain,
                    "ray": ray_,
                    "ray_over_plain": ray_["steady_tokens_per_s"] / plain["steady_tokens_per_s"],
                    "ray_extra_startup_s": ray_["startup_s"] - plain["startup_s"],
                }
            )
    header = (
        f"{'size':<13}{'params':>11}{'steps':>6}{'plain tok/s':>13}{'ray tok/s':>11}"
        f"{'ray/plain':>10}{'ckpt plain':>11}{'ckpt ray':>9}{'start plain':>12}"
        f"{'start ray':>10}{'teardown ray':>13}"
    )
    print(header)
    for r in rows:
        p, q = r["plain"], r["ray"]
        print(
            f"{r['size']:<13}{r['parameters']:>11,}{r['steps']:>6}{p['steady_tokens_per_s']:>13.0f}"
            f"{q['steady_tokens_per_s']:>11.0f}{r['ray_over_plain']:>10.2f}"
            f"{p['checkpoint_s'] or 0:>10.1f}s{q['checkpoint_s'] or 0:>8.1f}s"
            f"{p['startup_s']:>11.1f}s"
            f"{q['startup_s']:>9.1f}s{q['teardown_s']:>12.1f}s"
        )
    out = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "device": args.device,
            "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None,
        },
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
