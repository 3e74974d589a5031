"""HumanEval (Chen et al. 2021, "Evaluating Large Language Models Trained on Code"): 164 Python
functions; the model completes the prompt (signature + docstring), pass@1 runs the tests in the
sandbox. 0-shot; stops and budget as lm-evaluation-harness's `humaneval` task."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from agent_forge.errors import UserInputError
from agent_forge.eval.items import CodeItem, Suite
from agent_forge.eval.public.base import (
    Benchmark,
    check_options,
    load_docs,
    need_files,
    require_dir,
    text_field,
)

log = logging.getLogger(__name__)

EXPECTED = "JSONL objects with keys task_id, prompt, test, entry_point"
LAYOUT = (
    "humaneval/HumanEval.jsonl or humaneval/HumanEval.jsonl.gz (openai/human-eval data/)",
    "humaneval/test-*.parquet (HF openai_humaneval)",
)
FILES = ("HumanEval.jsonl", "HumanEval.jsonl.gz", "test-*.parquet", "test.parquet")
MAX_NEW_TOKENS = 512  # a function body (lm-eval allows 1024); callers may raise it
STOP = ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]  # top-level code after the function


def _parse(record: dict[str, Any], ref: str) -> CodeItem:
    return CodeItem(
        id=text_field(record, "task_id"),
        prompt=text_field(record, "prompt"),
        test=text_field(record, "test"),
        entry_point=text_field(record, "entry_point").strip(),
    )


def load(
    root: Path, num_fewshot: int | None = None, limit: int | None = None, seed: int = 1234
) -> Suite:
    """HumanEval from `root` (the humaneval folder); 0-shot only. `seed` is unused (no shots)."""
    k = check_options(num_fewshot, limit, BENCHMARK.num_fewshot)
    if k:
        raise UserInputError(f"humaneval is 0-shot only (num_fewshot {k} asked for)")
    files = need_files(require_dir(Path(root), LAYOUT), FILES, "HumanEval")
    items = load_docs(files, _parse, EXPECTED)[:limit]
    log.info("humaneval: %d items from %s", len(items), files[0].parent)
    return Suite(
        name="humaneval",
        kind="code",
        items=list(items),
        chance=0.0,
        metrics=("pass@1",),
        num_fewshot=0,
        max_new_tokens=MAX_NEW_TOKENS,
        source=", ".join(str(p) for p in files),
        description=BENCHMARK.description,
        extra={"stop": list(STOP), "fewshot_source": "none (0-shot)"},
    )


BENCHMARK = Benchmark(
    name="humaneval",
    folder="humaneval",
    num_fewshot=0,
    layout=LAYOUT,
    description="HumanEval: 164 Python functions, pass@1 in the sandbox (greedy, 0-shot)",
    load=load,
)
