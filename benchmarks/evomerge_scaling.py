"""EvoMerge throughput, side by side in one run:

1. candidates per minute with 1 Tune worker vs 2 (the same candidates, the real trial code:
   runtime/population.run_trials + phases/evomerge/scoring.score_candidate), target >= 1.8x;
2. per candidate, in memory (merge, copy the weights into a resident model, score) vs through
   disk (merge, save_pretrained, from_pretrained, score), target >= 3x; the merge-and-load part
   alone is reported too, since scoring is the same in both arms.

Parents are untrained Cognate models from one shared init (speed does not depend on the weights);
the suites are the built-in selection tasks and held-out loss, cut to --items each.

    python benchmarks/evomerge_scaling.py                       # tiny, 12 candidates
    python benchmarks/evomerge_scaling.py --sizes tiny consumer-gpu --candidates 6
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from agent_forge.data import build_dataset
from agent_forge.eval.catalog import SuiteOptions, build_suite
from agent_forge.eval.runner import EvalOptions
from agent_forge.merging.evolution import random_member
from agent_forge.model import CognateForCausalLM, cognate_consumer_gpu_config, cognate_tiny_config
from agent_forge.model.tokenizer import train_tokenizer
from agent_forge.phases.evomerge.scoring import candidate_state, score_candidate, score_model
from agent_forge.runtime.model_holder import LocalModelHolder, load_weights

SIZES = {
    "tiny": (cognate_tiny_config, 2048, {"act_max_steps": 2}),
    "consumer-gpu": (cognate_consumer_gpu_config, 12000, {}),
}


def _setup(size: str, data_dir: Path, items: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from agent_forge.data import load_corpus, load_split
    from agent_forge.data.lm_text import format_example

    build, vocab, extra = SIZES[size]
    corpus = load_corpus(data_dir, "train")
    tok = train_tokenizer(
        corpus + [format_example(e) for e in load_split(data_dir, "train")], vocab
    )
    models = []
    for seed in (0, 42, 1337, 2023):  # the shared init, then three parents
        torch.manual_seed(seed)
        models.append(CognateForCausalLM(build(vocab_size=len(tok), **extra)).eval())
    opts = SuiteOptions(data_dir=data_dir, levels=(1, 2), per_level=items // 2, max_new_tokens=8)
    tasks, loss = build_suite("tasks_selection", opts), build_suite("loss_selection", opts)
    loss.items = loss.items[:items]
    shared = {
        "parents": [m.state_dict() for m in models[1:]],
        "base": models[0].state_dict(),
        "model_config": models[0].config,
        "tokenizer": tok,
        "suites": {"selection": (tasks, loss)},
        "eval_options": EvalOptions(batch_size=16, bootstrap_resamples=200),
        "weights": {"perplexity": 0.4, "accuracy": 0.3, "speed": 0.2, "memory": 0.1},
    }
    return shared, models


def _candidates(n: int, num_layers: int) -> list[dict[str, Any]]:
    random.seed(0)
    out = []
    for i in range(n):
        m = random_member(num_layers, 1, i)
        m.genome.genes[2] = 0.0  # same-shape (frankenmerge) candidates: equal work per trial
        out.append({"id": m.id, "kind": "genome", "genome": m.genome.to_json()})
    return out


def bench_workers(shared: dict[str, Any], cands: list[dict[str, Any]]) -> dict[str, Any]:
    import ray

    from agent_forge.runtime.object_store import put_state_dict
    from agent_forge.runtime.population import run_trials

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = dict(shared)
        remote["parents"] = [put_state_dict(sd) for sd in shared["parents"]]
        remote["base"] = put_state_dict(shared["base"])
        storage = tempfile.mkdtemp(prefix="evobench-")
        out: dict[str, Any] = {}
        for workers in (1, 2):
            t0 = time.perf_counter()
            res = run_trials(
                cands,
                score_candidate,
                remote,
                {"cpu": 1},
                storage,
                f"w{workers}",
                max_concurrent=workers,
            )
            wall = time.perf_counter() - t0
            failed = [r.error for r in res if r.metrics is None]
            assert not failed, failed
            out[f"{workers}_worker"] = {
                "seconds": wall,
                "per_min": 60 * len(cands) / wall,
                "fitness": [r.metrics["fitness"] for r in res],
            }
        same = out["1_worker"]["fitness"] == out["2_worker"]["fitness"]
        out["speedup"] = out["2_worker"]["per_min"] / out["1_worker"]["per_min"]
        out["same_fitness"] = same
        return out
    finally:
        ray.shutdown()


def bench_memory_vs_disk(shared: dict[str, Any], cands: list[dict[str, Any]]) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    holder = LocalModelHolder("cpu")
    arms: dict[str, list[float]] = {"memory": [], "disk": [], "memory_load": [], "disk_load": []}
    for cand in cands:
        t0 = time.perf_counter()
        score_candidate(holder, cand, shared)  # merge + copy into the resident model + score
        arms["memory"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()  # the merge-and-load part alone
        holder.load_state(candidate_state(cand, shared))
        arms["memory_load"].append(time.perf_counter() - t0)
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            sd = candidate_state(cand, shared)
            model = AutoModelForCausalLM.from_config(shared["model_config"])
            load_weights(model, sd)
            model.save_pretrained(d)
            reloaded = AutoModelForCausalLM.from_pretrained(d).eval()
            t1 = time.perf_counter()
            with torch.no_grad():
                score_model(reloaded, sd, shared, "selection")
            arms["disk_load"].append(t1 - t0)
            arms["disk"].append(time.perf_counter() - t0)
    mean = {k: sum(v) / len(v) for k, v in arms.items()}
    return mean | {
        "ratio_end_to_end": mean["disk"] / mean["memory"],
        "ratio_merge_and_load": mean["disk_load"] / mean["memory_load"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["tiny"], choices=list(SIZES))
    ap.add_argument("--candidates", type=int, default=12)
    ap.add_argument("--items", type=int, default=40, help="Items per suite.")
    ap.add_argument("--out", default="benchmarks/results/evomerge_scaling.json")
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    results: dict[str, Any] = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "sizes": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        build_dataset(data_dir, 1234, 30, corpus_bytes=20_000)
        for size in args.sizes:
            shared, models = _setup(size, data_dir, args.items)
            cands = _candidates(args.candidates, models[0].config.num_hidden_layers)
            workers = bench_workers(shared, cands)
            disk = bench_memory_vs_disk(shared, cands[: max(2, args.candidates // 3)])
            results["sizes"][size] = {
                "parameters": sum(p.numel() for p in models[0].parameters()),
                "workers": workers,
                "memory_vs_disk": disk,
            }
    print(
        f"{'size':<13}{'1 worker /min':>15}{'2 workers /min':>16}{'speedup':>9}"
        f"{'mem s':>8}{'disk s':>8}{'ratio':>7}{'load mem s':>12}{'load disk s':>13}{'ratio':>7}"
    )
    for size, r in results["sizes"].items():
        w, d = r["workers"], r["memory_vs_disk"]
        print(
            f"{size:<13}{w['1_worker']['per_min']:>15.1f}{w['2_worker']['per_min']:>16.1f}"
            f"{w['speedup']:>8.2f}x{d['memory']:>8.2f}{d['disk']:>8.2f}"
            f"{d['ratio_end_to_end']:>6.2f}x{d['memory_load']:>12.3f}{d['disk_load']:>13.3f}"
            f"{d['ratio_merge_and_load']:>6.2f}x"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
