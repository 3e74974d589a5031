"""Evaluation throughput: batched vs one example at a time, for greedy generation (KV cache on) and
multiple choice (log-likelihood), on the tiny and consumer-gpu Cognate sizes, side by side.

The models are untrained (speed does not depend on the weights); generation runs a fixed number
of new tokens with no stop string, so both arms do the same work, and the batched answers are
checked against the one-at-a-time answers (they must agree: left padding changes nothing).

    python benchmarks/eval_throughput.py                 # both sizes, CPU
    python benchmarks/eval_throughput.py --sizes tiny --n 32
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from pathlib import Path
from typing import Any

import torch

from agent_forge.data import generate, generate_corpus
from agent_forge.data.lm_text import format_example, format_prompt
from agent_forge.eval.choice import choice_logprobs
from agent_forge.eval.generation import greedy_completions
from agent_forge.eval.items import ChoiceItem
from agent_forge.model import CognateForCausalLM, cognate_consumer_gpu_config, cognate_tiny_config
from agent_forge.model.tokenizer import train_tokenizer

SIZES = {
    "tiny": (cognate_tiny_config, 2048, {"act_max_steps": 2}),
    "consumer-gpu": (cognate_consumer_gpu_config, 12000, {}),
}
DOMAINS = ("arithmetic", "word_problems", "sequences", "logic", "strings")


def _examples(n: int) -> list[Any]:
    rng = random.Random(0)
    return [generate(DOMAINS[i % len(DOMAINS)], rng, 1 + i % 3) for i in range(n)]


def _choice_items(examples: list[Any]) -> list[ChoiceItem]:
    """Four choices per question: its answer and three other questions' answers."""
    answers = [e.answer for e in examples]
    items = []
    for i, e in enumerate(examples):
        others = [a for a in answers[i + 1 :] + answers[:i] if a != e.answer][:3]
        items.append(
            ChoiceItem.shared(e.uid, format_prompt(e), [f" {a}" for a in [e.answer, *others]], 0)
        )
    return items


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def measure(size: str, n: int, batch: int, new_tokens: int) -> dict[str, Any]:
    builder, vocab, overrides = SIZES[size]
    examples = _examples(n)
    tok = train_tokenizer(
        generate_corpus(0, min_bytes=200_000) + [format_example(e) for e in examples], vocab
    )
    torch.manual_seed(0)
    model = CognateForCausalLM(builder(vocab_size=vocab, **overrides)).eval()
    prompts = [format_prompt(e) for e in examples]
    items = _choice_items(examples)
    greedy_completions(model, tok, prompts[:2], 2, batch_size=2, stop_at=None)  # warm-up
    gen_b, t_gen_b = _timed(
        lambda: greedy_completions(model, tok, prompts, new_tokens, batch, None)
    )
    gen_1, t_gen_1 = _timed(lambda: greedy_completions(model, tok, prompts, new_tokens, 1, None))
    mc_b, t_mc_b = _timed(lambda: choice_logprobs(model, tok, items, batch_size=batch))
    mc_1, t_mc_1 = _timed(lambda: choice_logprobs(model, tok, items, batch_size=1))
    agree = sum(a == b for a, b in zip(gen_b, gen_1, strict=True)) / n
    mc_diff = max(
        abs(x - y)
        for a, b in zip(mc_b, mc_1, strict=True)
        for x, y in zip(a.logprobs, b.logprobs, strict=True)
    )
    return {
        "size": size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "n": n,
        "batch_size": batch,
        "new_tokens": new_tokens,
        "generation_batched_per_s": n / t_gen_b,
        "generation_single_per_s": n / t_gen_1,
        "generation_speedup": t_gen_1 / t_gen_b,
        "generation_agreement": agree,
        "choice_batched_per_s": n / t_mc_b,
        "choice_single_per_s": n / t_mc_1,
        "choice_speedup": t_mc_1 / t_mc_b,
        "choice_max_logprob_diff": mc_diff,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--n", type=int, default=64, help="Examples per arm.")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "eval_throughput.json")
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = [measure(s, args.n, args.batch_size, args.new_tokens) for s in args.sizes]
    head = (
        f"{'size':<13}{'gen 1/s':>9}{'gen B/s':>9}{'ratio':>7}{'agree':>7}"
        f"{'MC 1/s':>9}{'MC B/s':>9}{'ratio':>7}"
    )
    print(head)
    for r in rows:
        print(
            f"{r['size']:<13}{r['generation_single_per_s']:>9.2f}{r['generation_batched_per_s']:>9.2f}"
            f"{r['generation_speedup']:>6.1f}x{r['generation_agreement']:>7.2f}"
            f"{r['choice_single_per_s']:>9.2f}{r['choice_batched_per_s']:>9.2f}{r['choice_speedup']:>6.1f}x"
        )
    meta = {
        "machine": platform.processor() or platform.machine(),
        "threads": args.threads,
        "torch": torch.__version__,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
