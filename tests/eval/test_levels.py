"""accuracy_by_level on the real tiny model: its controls (reference answers score 100%, an
untrained model is not above chance) and a stratified sample that covers every domain."""

import random

import pytest
import torch

from agent_forge.data import check, generate
from agent_forge.data.lm_text import format_prompt
from agent_forge.eval import accuracy_by_level, stratified
from agent_forge.model import CognateForCausalLM, cognate_tiny_config
from agent_forge.model.tokenizer import train_tokenizer


def test_stratified_round_robin_covers_groups():
    items = [("a", i) for i in range(5)] + [("b", 0), ("c", 0)]
    assert stratified(items, 4, key=lambda x: x[0]) == [("a", 0), ("b", 0), ("c", 0), ("a", 1)]
    assert stratified(items, 100, key=lambda x: x[0])[-1] == ("a", 4)


@pytest.fixture(scope="module")
def setup():
    rng = random.Random(0)
    examples = [
        generate(d, rng, lvl) for d in ("logic", "recall") for lvl in (1, 2) for _ in range(6)
    ]
    tok = train_tokenizer([format_prompt(e) + " " + e.answer for e in examples], 400)
    torch.manual_seed(0)
    return examples, tok, CognateForCausalLM(cognate_tiny_config(vocab_size=len(tok)))


def test_untrained_model_is_not_above_chance(setup):
    examples, tok, model = setup
    out = accuracy_by_level(
        model, tok, examples, format_prompt, lambda e, p: check(e.domain, e, p), [1, 2, 3], 8, 4
    )
    assert set(out) == {1, 2}  # no level-3 examples: left out, not scored as 0
    for s in out.values():
        assert s["n"] == 8 and not s["above_chance"] and s["ci95"][0] <= s["accuracy"]


def test_reference_answers_score_everything(setup):
    examples, tok, model = setup
    # the checker fed the reference answer: what a perfect model would produce
    out = accuracy_by_level(
        model, tok, examples, format_prompt, lambda e, p: check(e.domain, e, e.answer), [1], 8, 1
    )
    assert out[1]["accuracy"] == 1.0 and out[1]["above_chance"]
