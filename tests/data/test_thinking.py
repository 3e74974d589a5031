"""Phase 3's baking documents: every strategy wraps the generator's true worked solution in the
thinking tokens, one line per document, the answer found after </think>; deterministic mixes."""

from __future__ import annotations

import random

import pytest

from agent_forge.config.quietstar_config import STRATEGIES as CONFIG_STRATEGIES
from agent_forge.data.lm_text import format_example, format_prompt
from agent_forge.data.special_tokens import THINKING_TOKENS
from agent_forge.data.tasks import DOMAINS, generate
from agent_forge.data.thinking import (
    STRATEGIES,
    answer_after_thinking,
    baking_documents,
    thinking_body,
    thinking_document,
)


def _examples(n_per_domain: int = 3) -> list:
    rng = random.Random(0)
    return [
        generate(d, rng, level)
        for d in DOMAINS
        if d != "python_functions"
        for level in (1, 2)
        for _ in range(n_per_domain)
    ]


def test_the_config_and_the_data_agree_on_the_seven_strategies():
    assert STRATEGIES == CONFIG_STRATEGIES and len(STRATEGIES) == 7


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_strategy_keeps_the_solution_and_the_answer_is_after_the_block(strategy):
    for ex in _examples():
        doc = thinking_document(ex, strategy)
        assert doc.startswith(format_prompt(ex)) and doc.endswith(f"</think> {ex.answer}\n")
        assert doc.count("\n") == format_example(ex).count("\n")  # no newline inside the block
        body = thinking_body(ex, strategy)
        for line in ex.solution.splitlines():
            if line.strip():
                assert " ".join(line.split()) in body  # every true step is there
        if strategy != "think":
            lead = THINKING_TOKENS[2:][STRATEGIES.index(strategy) - 1]
            assert lead in body
        completion = doc[len(format_prompt(ex)) :].rstrip("\n")
        assert answer_after_thinking(completion) == ex.answer


def test_an_unclosed_block_has_no_answer_and_unknown_strategies_are_refused():
    assert answer_after_thinking("<think> 3 + 5 ; = 8") == ""
    assert answer_after_thinking("<think>a</think> x </think> 7") == "7"
    with pytest.raises(ValueError, match="unknown strategy"):
        thinking_body(_examples(1)[0], "vibes")


def test_baking_mix_uses_strategies_equally_adds_plain_documents_and_is_deterministic():
    exs = _examples()
    docs = baking_documents(exs, STRATEGIES, 70, 0.3, seed=1)
    assert docs == baking_documents(list(reversed(exs)), STRATEGIES, 70, 0.3, seed=1)
    assert docs != baking_documents(exs, STRATEGIES, 70, 0.3, seed=2)
    thinking = [d for d in docs if "<think>" in d]
    assert len(thinking) == 70 and len(docs) == 70 + 21
    for tok in THINKING_TOKENS[2:]:
        assert sum(tok in d for d in thinking) == 10  # 70 documents / 7 strategies
