"""ARC-Challenge (Clark et al. 2018, "Think you have Solved Question Answering? Try ARC"):
grade-school science questions that retrieval and co-occurrence methods fail; each choice's text
is scored after "Question: ..\\nAnswer:" (lm-evaluation-harness's `arc_challenge`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_forge.eval.items import ChoiceItem, Suite
from agent_forge.eval.public.base import (
    Benchmark,
    check_options,
    find_files,
    load_docs,
    mean,
    need_files,
    plan_shots,
    require_dir,
    string_list,
    with_shots,
)

log = logging.getLogger(__name__)

EXPECTED = (
    "JSONL objects with keys id, question {stem, choices [{text, label}]} (or question plus "
    "choices {text, label}), answerKey one of the labels"
)
LAYOUT = (
    "arc_challenge/ARC-Challenge-Test.jsonl (scored) + ARC-Challenge-Train.jsonl (shots), "
    "from AI2's ARC-V1-Feb2018 release",
    "arc_challenge/test-*.parquet + train-*.parquet (HF allenai/ai2_arc ARC-Challenge)",
)
_TEST = ("ARC-Challenge-Test.jsonl", "test.jsonl", "test-*.parquet", "test.parquet")
_TRAIN = ("ARC-Challenge-Train.jsonl", "train.jsonl", "train-*.parquet", "train.parquet")


@dataclass(frozen=True)
class Question:
    id: str
    stem: str
    choices: tuple[str, ...]
    gold: int


def _choices(record: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    """(stem, texts, labels) from AI2's nested form or HF's flat one."""
    q = record["question"]
    if isinstance(q, dict):  # AI2: question {stem, choices [{text, label}]}
        rows = q["choices"]
        if not isinstance(rows, list) or not all(isinstance(c, dict) for c in rows):
            raise ValueError("'question.choices' must be a list of {text, label} objects")
        return str(q["stem"]), [c["text"] for c in rows], [str(c["label"]) for c in rows]
    choices = record["choices"]  # HF: question, choices {text: [..], label: [..]}
    if not isinstance(choices, dict):
        raise ValueError("'choices' must be an object {text: [...], label: [...]}")
    return str(q), choices["text"], [str(x) for x in choices["label"]]


def _parse(record: dict[str, Any], ref: str) -> Question:
    stem, texts, labels = _choices(record)
    texts = string_list(texts, "choice texts")
    if len(labels) != len(texts):
        raise ValueError(f"{len(texts)} choice texts but {len(labels)} labels")
    key = str(record["answerKey"]).strip()
    if key not in labels:
        raise ValueError(f"answerKey {key!r} is not one of the labels {labels}")
    if not stem.strip():
        raise ValueError("the question stem is empty")
    return Question(str(record.get("id", f"arc/{ref}")), stem, tuple(texts), labels.index(key))


def _query(q: Question) -> str:
    return f"Question: {q.stem}\nAnswer:"


def load(
    root: Path, num_fewshot: int | None = None, limit: int | None = None, seed: int = 1234
) -> Suite:
    """ARC-Challenge from `root` (the arc_challenge folder). Shots: k train questions with their
    gold answer, drawn per item; with no train file, k held-out test questions."""
    k = check_options(num_fewshot, limit, BENCHMARK.num_fewshot)
    folder = require_dir(Path(root), LAYOUT)
    test_files = need_files(folder, _TEST, "test")
    docs = load_docs(test_files, _parse, EXPECTED)
    train_files = find_files(folder, _TRAIN)
    pool = load_docs(train_files, _parse, EXPECTED) if k and train_files else None
    names = ", ".join(p.name for p in train_files)
    plan = plan_shots(docs, pool, k, seed, limit, pool_name=names)
    items = [
        ChoiceItem.shared(
            q.id,
            with_shots([f"{_query(s)} {s.choices[s.gold]}" for s in shots], _query(q)),
            [f" {c}" for c in q.choices],
            q.gold,
        )
        for q, shots in zip(plan.scored, plan.shots, strict=True)
    ]
    log.info("arc_challenge: %d items, shots: %s", len(items), plan.source)
    return Suite(
        name="arc_challenge",
        kind="choice",
        items=list(items),
        chance=mean([1 / len(q.choices) for q in plan.scored]),
        metrics=("acc", "acc_norm"),
        num_fewshot=k,
        source=", ".join(str(p) for p in test_files),
        description=BENCHMARK.description,
        extra={"fewshot_source": plan.source},
    )


BENCHMARK = Benchmark(
    name="arc_challenge",
    folder="arc_challenge",
    num_fewshot=25,
    layout=LAYOUT,
    description="ARC-Challenge: science questions, 3-5 choices scored as text (acc, acc_norm)",
    load=load,
)
