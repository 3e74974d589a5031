"""Task generators: one module per domain, each `generate(rng, level) -> Example` for levels 1-10.

The table below is the registry (written out here, no registration by import side effect).
"""

from __future__ import annotations

import random

from agent_forge.core.named_registry import Registry
from agent_forge.data.tasks import (
    arithmetic,
    logic,
    python_functions,
    recall,
    sequences,
    strings,
    word_problems,
)
from agent_forge.data.tasks.base import (
    CHECKERS,
    MAX_LEVEL,
    MIN_LEVEL,
    Example,
    TaskDomain,
    check_answer,
    normalize_text,
    parse_number,
)

TASKS: Registry[TaskDomain] = Registry(
    "task domain",
    {
        "arithmetic": TaskDomain("arithmetic", arithmetic.generate, "integer expressions"),
        "word_problems": TaskDomain("word_problems", word_problems.generate, "GSM-style stories"),
        "sequences": TaskDomain("sequences", sequences.generate, "next term of a sequence"),
        "logic": TaskDomain("logic", logic.generate, "comparisons, booleans, orderings"),
        "strings": TaskDomain("strings", strings.generate, "string manipulation"),
        "python_functions": TaskDomain(
            "python_functions", python_functions.generate, "small functions with tests"
        ),
        "recall": TaskDomain("recall", recall.generate, "key-value recall over long contexts"),
    },
)
DOMAINS: tuple[str, ...] = tuple(TASKS.names())


def generate(domain: str, rng: random.Random, level: int) -> Example:
    """One example of `domain` at `level`, drawn from `rng`."""
    return TASKS.get(domain).generate(rng, level)


def check(domain: str, example: Example, prediction: str) -> bool:
    """True if `prediction` answers `example`. User-data domains (not in TASKS) use the
    example's checker the same way; a known domain must match the example's own domain."""
    if domain in TASKS and example.domain != domain:
        raise ValueError(f"example of domain {example.domain!r} checked as {domain!r}")
    return check_answer(example, prediction)


__all__ = [
    "CHECKERS",
    "DOMAINS",
    "MAX_LEVEL",
    "MIN_LEVEL",
    "TASKS",
    "Example",
    "TaskDomain",
    "check",
    "check_answer",
    "generate",
    "normalize_text",
    "parse_number",
]
