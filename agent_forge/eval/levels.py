"""Held-out accuracy per difficulty level, with its 95% CI and the chance rate of the same
sample.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from agent_forge.eval.ci import ci_for
from agent_forge.eval.generation import score_examples
from agent_forge.eval.sampling import stratified
from agent_forge.eval.stats import majority_rate


def accuracy_by_level(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Any],
    format_prompt: Callable[[Any], str],
    check: Callable[[Any, str], bool],
    levels: Iterable[int],
    per_level: int,
    max_new_tokens: int,
) -> dict[int, dict[str, Any]]:
    """For each level: greedy accuracy on up to `per_level` examples spread over their domains,
    the Wilson 95% interval, the majority-answer rate of that sample (chance), and whether the
    interval's lower bound clears chance. Levels without examples are left out."""
    out: dict[int, dict[str, Any]] = {}
    for level in levels:
        sample = stratified(
            [e for e in examples if e.level == level], per_level, key=lambda e: e.domain
        )
        if not sample:
            continue
        ok = score_examples(model, tokenizer, sample, format_prompt, check, max_new_tokens)
        acc, lo, hi = ci_for("proportion", [float(x) for x in ok])  # Wilson
        chance = majority_rate([e.answer for e in sample])
        out[level] = {
            "accuracy": acc,
            "ci95": [lo, hi],
            "n": len(ok),
            "chance": chance,
            "above_chance": lo > chance,
        }
    return out
