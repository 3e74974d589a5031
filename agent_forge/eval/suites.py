"""Built-in suites from the project's own task generators and corpus (no download, no network).

Their items come from a dataset split (`selection` for searches, `test` for reports; disjoint
from `train` by construction, see `data.splits`). Each suite is data: items plus the chance level
of the same sample, reported per level and per domain.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent_forge.data.lm_text import format_example, format_prompt
from agent_forge.data.tasks import Example
from agent_forge.eval.items import GenerationItem, Suite, TextItem
from agent_forge.eval.sampling import stratified
from agent_forge.eval.stats import majority_rate

CODE_DOMAINS = ("python_functions",)  # their answers are programs: scored in the sandbox


def _group(e: Example) -> str:
    return f"level_{e.level}/{e.domain}"


def _sample(examples: Sequence[Example], levels: Sequence[int], per_level: int) -> list[Example]:
    """Up to `per_level` examples of each level, spread round-robin over domains."""
    out: list[Example] = []
    for level in levels:
        rows = [e for e in examples if e.level == level]
        out += stratified(rows, per_level, key=lambda e: e.domain)
    return out


def _group_chance(sample: list[Example]) -> dict[str, float]:
    """Majority-answer rate per group, per level and per domain: chance of each breakdown."""
    keys = {_group(e) for e in sample}
    keys |= {f"level_{e.level}" for e in sample} | {e.domain for e in sample}
    out = {}
    for k in keys:
        answers = [e.answer for e in sample if k in (_group(e), f"level_{e.level}", e.domain)]
        out[k] = majority_rate(answers)
    return out


def task_suite(
    examples: Sequence[Example],
    split: str,
    levels: Sequence[int],
    per_level: int,
    max_new_tokens: int = 16,
) -> Suite:
    """Greedy exact match on the task generators' examples (code domains excluded), each scored
    by its own checker; chance is the majority-answer rate of the same sample."""
    sample = _sample([e for e in examples if e.domain not in CODE_DOMAINS], levels, per_level)
    items = [
        GenerationItem(e.uid, format_prompt(e), e.answer, f"task:{e.checker}", _group(e))
        for e in sample
    ]
    return Suite(
        name=f"tasks_{split}",
        kind="generation",
        items=list(items),
        chance=majority_rate([e.answer for e in sample]),
        metrics=("exact_match",),
        max_new_tokens=max_new_tokens,
        source=f"task generators, {split} split",
        description="built-in tasks: greedy exact match per level and domain",
        extra={"stop": ["\n"], "group_chance": _group_chance(sample)},
    )


def code_suite(
    examples: Sequence[Example], split: str, levels: Sequence[int], per_level: int
) -> Suite:
    """pass@1 of generated functions against the examples' asserts, run in the sandbox."""
    from agent_forge.eval.code_exec import from_example

    sample = _sample([e for e in examples if e.domain in CODE_DOMAINS], levels, per_level)
    items = [from_example(e) for e in sample]
    return Suite(
        name=f"code_{split}",
        kind="code",
        items=list(items),
        chance=0.0,
        metrics=("pass@1",),
        max_new_tokens=96,
        source=f"task generators (python_functions), {split} split",
        description="built-in code tasks: pass@1 in the sandbox",
        extra={"stop": ["\n\n"]},
    )


def loss_suite(corpus: Sequence[str], examples: Sequence[Example], split: str) -> Suite:
    """Held-out loss on the corpus documents and the formatted examples of a split."""
    docs = list(corpus) + [format_example(e) for e in examples if e.domain not in CODE_DOMAINS]
    items = [TextItem(f"{split}_{i}", d) for i, d in enumerate(docs)]
    return Suite(
        name=f"loss_{split}",
        kind="loss",
        items=list(items),
        chance=float("nan"),  # set per model: ln(vocab size), the uniform guess
        metrics=("loss", "perplexity"),
        higher_is_better=False,
        source=f"corpus and task examples, {split} split",
        description="held-out loss and perplexity (token-weighted)",
    )
