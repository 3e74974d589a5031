"""MMLU (Hendrycks et al. 2021, "Measuring Massive Multitask Language Understanding"): 57
subjects, four choices, scored by the log-likelihood of the answer letter; the prompt is
lm-evaluation-harness's `mmlu` task (subject header, "A. .." lines, "Answer:", dev-set shots)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agent_forge.errors import DataFileError
from agent_forge.eval.items import ChoiceItem, Suite
from agent_forge.eval.public.base import (
    Benchmark,
    check_options,
    find_files,
    index_field,
    load_docs,
    plan_shots,
    require_dir,
    string_list,
    text_field,
    with_shots,
)
from agent_forge.eval.sampling import stratified

log = logging.getLogger(__name__)

LETTERS = "ABCD"
EXPECTED_CSV = "header-less CSV rows question,A,B,C,D,answer with answer one of A, B, C, D"
EXPECTED_PARQUET = "Parquet rows with question, subject, choices (4 strings), answer (0-3)"
LAYOUT = (
    "mmlu/data/test/<subject>_test.csv + mmlu/data/dev/<subject>_dev.csv (the original "
    "release; the data/ level may be left out)",
    "mmlu/test-*.parquet + mmlu/dev-*.parquet (HF cais/mmlu 'all'; also under mmlu/all/)",
)
_TEST_PARQUET = ("test-*.parquet", "test.parquet", "all/test-*.parquet", "all/test.parquet")
_DEV_PARQUET = ("dev-*.parquet", "dev.parquet", "all/dev-*.parquet", "all/dev.parquet")


@dataclass(frozen=True)
class Question:
    id: str
    subject: str
    question: str
    choices: tuple[str, ...]
    gold: int


def _from_csv(subject: str) -> Callable[[list[str], str], Question]:
    def parse(record: list[str], ref: str) -> Question:
        if len(record) != 6:
            raise ValueError(f"{len(record)} fields instead of 6")
        answer = record[5].strip()
        if answer not in LETTERS:
            raise ValueError(f"answer {answer!r} is not one of A, B, C, D")
        gold = LETTERS.index(answer)
        return Question(ref, subject, record[0], tuple(record[1:5]), gold)

    return parse


def _from_parquet(record: dict[str, Any], ref: str) -> Question:
    subject = text_field(record, "subject")
    choices = string_list(record["choices"], "choices", at_least=4)
    if len(choices) != 4:
        raise ValueError(f"'choices' has {len(choices)} entries instead of 4")
    gold = index_field(record["answer"], "answer", 4)
    return Question(ref, subject, text_field(record, "question"), tuple(choices), gold)


def _csv_dirs(folder: Path) -> tuple[Path, Path] | None:
    for base in (folder / "data", folder):
        if (base / "test").is_dir():
            return base / "test", base / "dev"
    return None


def _read(folder: Path) -> tuple[dict[str, list[Question]], dict[str, list[Question]], str]:
    """(test questions by subject, dev questions by subject, source description)."""
    dirs = _csv_dirs(folder)
    if dirs is not None:
        test: dict[str, list[Question]] = {}
        dev: dict[str, list[Question]] = {}
        files = sorted(dirs[0].glob("*_test.csv"))
        if not files:
            raise DataFileError(str(dirs[0]), f"no <subject>_test.csv files; expected {LAYOUT[0]}")
        for path in files:
            subject = path.name[: -len("_test.csv")]
            test[subject] = load_docs([path], _from_csv(subject), EXPECTED_CSV)
            dev_path = dirs[1] / f"{subject}_dev.csv"
            if dev_path.is_file():
                dev[subject] = load_docs([dev_path], _from_csv(subject), EXPECTED_CSV)
        return _renumber(test), dev, str(dirs[0])
    test_files = find_files(folder, _TEST_PARQUET)
    if not test_files:
        raise DataFileError(str(folder), f"no MMLU test files; expected {' or '.join(LAYOUT)}")
    by_subject = _group(load_docs(test_files, _from_parquet, EXPECTED_PARQUET))
    dev_files = find_files(folder, _DEV_PARQUET)
    dev_rows = load_docs(dev_files, _from_parquet, EXPECTED_PARQUET) if dev_files else []
    return _renumber(by_subject), _group(dev_rows), ", ".join(str(p) for p in test_files)


def _group(questions: list[Question]) -> dict[str, list[Question]]:
    out: dict[str, list[Question]] = {}
    for q in questions:
        out.setdefault(q.subject, []).append(q)
    return out


def _renumber(by_subject: dict[str, list[Question]]) -> dict[str, list[Question]]:
    """Item ids "<subject>/<n>" (n from 0 in file order): the same for the CSV and Parquet form."""
    return {
        s: [replace(q, id=f"{s}/{n}") for n, q in enumerate(qs)] for s, qs in by_subject.items()
    }


def _query(q: Question) -> str:
    options = "".join(f"\n{letter}. {c}" for letter, c in zip(LETTERS, q.choices, strict=True))
    return f"{q.question.strip()}{options}\nAnswer:"


def format_prompt(q: Question, shots: list[Question]) -> str:
    header = (
        "The following are multiple choice questions (with answers) about "
        f"{q.subject.replace('_', ' ')}.\n\n"
    )
    return header + with_shots([f"{_query(s)} {LETTERS[s.gold]}" for s in shots], _query(q))


def _shots_note(k: int, seed: int, no_dev: list[str]) -> str:
    if k == 0:
        return "none (0-shot)"
    note = f"first {k} dev questions of the subject"
    if no_dev:
        note += (
            f"; {k} held out from the test file (seed {seed}; not scored) for {', '.join(no_dev)}"
        )
    return note


def load(
    root: Path, num_fewshot: int | None = None, limit: int | None = None, seed: int = 1234
) -> Suite:
    """MMLU from `root` (the mmlu folder). Shots: the subject's first k dev questions; a subject
    with no dev file gives k of its test questions (seeded) and does not score them. `limit`
    spreads over subjects round-robin."""
    k = check_options(num_fewshot, limit, BENCHMARK.num_fewshot)
    test, dev, source = _read(require_dir(Path(root), LAYOUT))
    pairs: list[tuple[Question, list[Question]]] = []
    for subject in sorted(test):
        dev_name = f"the {subject} dev rows"
        plan = plan_shots(test[subject], dev.get(subject), k, seed, None, True, dev_name)
        pairs += zip(plan.scored, plan.shots, strict=True)
    if limit is not None:
        pairs = stratified(pairs, limit, key=lambda p: p[0].subject)
    items = [
        ChoiceItem.shared(q.id, format_prompt(q, shots), [f" {x}" for x in LETTERS], q.gold)
        for q, shots in pairs
    ]
    log.info("mmlu: %d items from %d subjects (%s)", len(items), len(test), source)
    return Suite(
        name="mmlu",
        kind="choice",
        items=list(items),
        chance=0.25,
        metrics=("acc",),
        num_fewshot=k,
        source=source,
        description=BENCHMARK.description,
        extra={
            "fewshot_source": _shots_note(k, seed, [s for s in test if s not in dev]),
            "group_chance": {s: 0.25 for s in test},
            "item_group": {q.id: q.subject for q, _ in pairs},  # ChoiceItem has no group
        },
    )


BENCHMARK = Benchmark(
    name="mmlu",
    folder="mmlu",
    num_fewshot=5,
    layout=LAYOUT,
    description="MMLU: 57 subjects, 4 choices, log-likelihood of the answer letter (acc)",
    load=load,
)
