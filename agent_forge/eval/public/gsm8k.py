"""GSM8K (Cobbe et al. 2021, "Training Verifiers to Solve Math Word Problems"): grade-school
word problems, greedy generation after 8 chain-of-thought shots (the train set's full worked
answers), exact match on the number after "####" (lm-evaluation-harness's `gsm8k` prompt)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_forge.data.tasks.base import parse_number
from agent_forge.eval.items import GenerationItem, Suite
from agent_forge.eval.public.base import (
    Benchmark,
    check_options,
    find_files,
    load_docs,
    need_files,
    plan_shots,
    require_dir,
    text_field,
    with_shots,
)

log = logging.getLogger(__name__)

EXPECTED = "JSONL objects with keys question, answer (a worked answer ending '#### n')"
LAYOUT = (
    "gsm8k/test.jsonl (scored) + gsm8k/train.jsonl (shots), as in openai/grade-school-math",
    "gsm8k/test-*.parquet + gsm8k/train-*.parquet (HF gsm8k 'main')",
)
MAX_NEW_TOKENS = 256  # room for a worked answer; lm-eval's default max_gen_toks
STOP = ["Question:", "\n\n"]  # lm-eval's `until`: the model starts the next shot


@dataclass(frozen=True)
class Problem:
    id: str
    question: str
    answer: str  # the full worked answer, shown in shots
    target: str  # the number after "####", commas and "$" removed


def _parse(record: dict[str, Any], ref: str) -> Problem:
    answer = text_field(record, "answer")
    if "####" not in answer:
        raise ValueError("the answer has no final '#### n'")
    final = answer.rsplit("####", 1)[1].strip()
    target = final.replace(",", "").replace("$", "").rstrip(".")
    if parse_number(target) is None:
        raise ValueError(f"the final answer {final!r} after '####' is not a number")
    return Problem(f"gsm8k/{ref}", text_field(record, "question"), answer, target)


def _query(p: Problem) -> str:
    return f"Question: {p.question}\nAnswer:"


def format_prompt(p: Problem, shots: list[Problem]) -> str:
    return with_shots([f"{_query(s)} {s.answer}" for s in shots], _query(p))


def load(
    root: Path, num_fewshot: int | None = None, limit: int | None = None, seed: int = 1234
) -> Suite:
    """GSM8K from `root` (the gsm8k folder). Shots: k train problems drawn per item (seeded);
    with no train file, k test problems held out (seeded) and not scored."""
    k = check_options(num_fewshot, limit, BENCHMARK.num_fewshot)
    folder = require_dir(Path(root), LAYOUT)
    test_files = need_files(folder, ("test.jsonl", "test-*.parquet", "test.parquet"), "test")
    docs = load_docs(test_files, _parse, EXPECTED)
    train_files = find_files(folder, ("train.jsonl", "train-*.parquet", "train.parquet"))
    pool = load_docs(train_files, _parse, EXPECTED) if k and train_files else None
    names = ", ".join(p.name for p in train_files)
    plan = plan_shots(docs, pool, k, seed, limit, pool_name=names)
    items = [
        GenerationItem(p.id, format_prompt(p, shots), p.target, extract="gsm8k")
        for p, shots in zip(plan.scored, plan.shots, strict=True)
    ]
    log.info("gsm8k: %d items, shots: %s", len(items), plan.source)
    return Suite(
        name="gsm8k",
        kind="generation",
        items=list(items),
        chance=0.0,
        metrics=("exact_match",),
        num_fewshot=k,
        max_new_tokens=MAX_NEW_TOKENS,
        source=", ".join(str(p) for p in test_files),
        description=BENCHMARK.description,
        extra={"stop": list(STOP), "fewshot_source": plan.source},
    )


BENCHMARK = Benchmark(
    name="gsm8k",
    folder="gsm8k",
    num_fewshot=8,
    layout=LAYOUT,
    description="GSM8K: math word problems, 8-shot chain of thought, exact match on the number",
    load=load,
)
