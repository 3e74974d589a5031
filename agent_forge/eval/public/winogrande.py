"""WinoGrande (Sakaguchi et al. 2020, "WinoGrande: An Adversarial Winograd Schema Challenge at
Scale"): fill the "_" with one of two options. Partial scoring, as lm-evaluation-harness does:
each option goes into its own context (the sentence up to "_") and the shared rest of the
sentence is the scored continuation."""

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
    index_field,
    load_docs,
    need_files,
    plan_shots,
    require_dir,
    text_field,
    with_shots,
)

log = logging.getLogger(__name__)

EXPECTED = "JSONL objects with keys sentence (with one '_'), option1, option2, answer ('1' or '2')"
LAYOUT = (
    "winogrande/dev.jsonl (scored) + winogrande/train_xl.jsonl (shots), from the "
    "winogrande_1.1 release (its test.jsonl has no answers)",
    "winogrande/validation-*.parquet + train-*.parquet (HF winogrande 'winogrande_xl')",
)
_DEV = ("dev.jsonl", "validation.jsonl", "validation-*.parquet", "validation.parquet")
_TRAIN = ("train_xl.jsonl", "train.jsonl", "train-*.parquet", "train.parquet")


@dataclass(frozen=True)
class Sentence:
    id: str
    before: str  # the sentence up to "_"
    after: str  # the rest, after "_", stripped: the scored continuation
    options: tuple[str, str]
    gold: int


def _parse(record: dict[str, Any], ref: str) -> Sentence:
    sentence = text_field(record, "sentence")
    if "_" not in sentence:
        raise ValueError("the sentence has no '_' blank")
    cut = sentence.index("_")
    after = sentence[cut + 1 :].strip()
    if not after:
        raise ValueError("nothing follows the '_' blank to score")
    options = (text_field(record, "option1"), text_field(record, "option2"))
    gold = index_field(record["answer"], "answer", 2, base=1)
    uid = str(record.get("qID", f"winogrande/{ref}"))
    return Sentence(uid, sentence[:cut], after, options, gold)


def to_item(s: Sentence, shots: list[Sentence]) -> ChoiceItem:
    """contexts[i] = shots + the sentence up to "_" with option i; continuation = " " + rest."""
    solved = [f"{x.before}{x.options[x.gold]} {x.after}" for x in shots]
    contexts = tuple(with_shots(solved, s.before + option) for option in s.options)
    return ChoiceItem(s.id, contexts, (f" {s.after}",) * 2, s.gold)


def load(
    root: Path, num_fewshot: int | None = None, limit: int | None = None, seed: int = 1234
) -> Suite:
    """WinoGrande from `root` (the winogrande folder): the dev file is scored. Shots: k solved
    train sentences drawn per item; with no train file, k held-out dev sentences."""
    k = check_options(num_fewshot, limit, BENCHMARK.num_fewshot)
    folder = require_dir(Path(root), LAYOUT)
    dev_files = need_files(folder, _DEV, "dev (validation)")
    docs = load_docs(dev_files, _parse, EXPECTED)
    train_files = find_files(folder, _TRAIN)
    pool = load_docs(train_files, _parse, EXPECTED) if k and train_files else None
    names = ", ".join(p.name for p in train_files)
    plan = plan_shots(docs, pool, k, seed, limit, pool_name=names)
    items = [to_item(s, shots) for s, shots in zip(plan.scored, plan.shots, strict=True)]
    log.info("winogrande: %d items, shots: %s", len(items), plan.source)
    return Suite(
        name="winogrande",
        kind="choice",
        items=list(items),
        chance=0.5,
        metrics=("acc",),
        num_fewshot=k,
        source=", ".join(str(p) for p in dev_files),
        description=BENCHMARK.description,
        extra={"fewshot_source": plan.source},
    )


BENCHMARK = Benchmark(
    name="winogrande",
    folder="winogrande",
    num_fewshot=5,
    layout=LAYOUT,
    description="WinoGrande: pronoun resolution, 2 options, partial scoring (acc)",
    load=load,
)
