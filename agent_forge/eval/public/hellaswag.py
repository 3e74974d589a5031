"""HellaSwag (Zellers et al. 2019, "HellaSwag: Can a Machine Really Finish Your Sentence?"):
pick the ending of an ActivityNet / WikiHow context out of four, by log-likelihood; the text is
preprocessed as lm-evaluation-harness's `hellaswag` task does (WikiHow "[title]" artefacts)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_forge.eval.items import ChoiceItem, Suite
from agent_forge.eval.public.base import (
    Benchmark,
    check_options,
    find_files,
    index_field,
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
    "JSONL objects with keys activity_label, ctx_a and ctx_b (or ctx), endings (4 strings), "
    "label (0-3)"
)
LAYOUT = (
    "hellaswag/hellaswag_val.jsonl (scored) + hellaswag/hellaswag_train.jsonl (shots), "
    "as in rowanz/hellaswag data/",
    "hellaswag/validation-*.parquet + hellaswag/train-*.parquet (HF Rowan/hellaswag)",
)
_VAL = ("hellaswag_val.jsonl", "validation.jsonl", "validation-*.parquet", "validation.parquet")
_TRAIN = ("hellaswag_train.jsonl", "train.jsonl", "train-*.parquet", "train.parquet")
_BRACKETS = re.compile(r"\[.*?\]")


@dataclass(frozen=True)
class Ending:
    id: str
    query: str
    choices: tuple[str, ...]
    gold: int


def preprocess(text: str) -> str:
    """WikiHow artefacts: " [title]" becomes a sentence break, other [tags] go, double spaces
    close up."""
    text = text.strip().replace(" [title]", ". ")
    return _BRACKETS.sub("", text).replace("  ", " ")


def _parse(record: dict[str, Any], ref: str) -> Ending:
    if "ctx_a" in record and "ctx_b" in record:
        ctx = f"{record['ctx_a']} {str(record['ctx_b']).capitalize()}"
    else:
        ctx = str(record["ctx"])
    endings = string_list(record["endings"], "endings")
    gold = index_field(record["label"], "label", len(endings))
    query = preprocess(f"{record['activity_label']}: {ctx}")
    uid = f"hellaswag/{record.get('ind', ref)}"
    return Ending(uid, query, tuple(preprocess(e) for e in endings), gold)


def load(
    root: Path, num_fewshot: int | None = None, limit: int | None = None, seed: int = 1234
) -> Suite:
    """HellaSwag from `root` (the hellaswag folder): the validation file is scored (the test
    file has no labels). Shots: k train contexts with their gold ending, drawn per item."""
    k = check_options(num_fewshot, limit, BENCHMARK.num_fewshot)
    folder = require_dir(Path(root), LAYOUT)
    val_files = need_files(folder, _VAL, "validation")
    docs = load_docs(val_files, _parse, EXPECTED)
    train_files = find_files(folder, _TRAIN)
    pool = load_docs(train_files, _parse, EXPECTED) if k and train_files else None
    names = ", ".join(p.name for p in train_files)
    plan = plan_shots(docs, pool, k, seed, limit, pool_name=names)
    items = [
        ChoiceItem.shared(
            d.id,
            with_shots([f"{s.query} {s.choices[s.gold]}" for s in shots], d.query),
            [f" {c}" for c in d.choices],
            d.gold,
        )
        for d, shots in zip(plan.scored, plan.shots, strict=True)
    ]
    log.info("hellaswag: %d items, shots: %s", len(items), plan.source)
    return Suite(
        name="hellaswag",
        kind="choice",
        items=list(items),
        chance=mean([1 / len(d.choices) for d in plan.scored]),
        metrics=("acc", "acc_norm"),
        num_fewshot=k,
        source=", ".join(str(p) for p in val_files),
        description=BENCHMARK.description,
        extra={"fewshot_source": plan.source},
    )


BENCHMARK = Benchmark(
    name="hellaswag",
    folder="hellaswag",
    num_fewshot=10,
    layout=LAYOUT,
    description="HellaSwag: commonsense sentence endings, 4 choices (acc, acc_norm)",
    load=load,
)
