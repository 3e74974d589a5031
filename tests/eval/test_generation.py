"""Generation scoring on the real tiny Cognate and a real locally trained tokenizer.

Controls: an untrained model scores at chance on level-1 arithmetic; only new tokens are scored
(a prompt that already contains the answer does not make a random model right); the reference
answers score 100% through the same checker.
"""

from __future__ import annotations

import random

import pytest
import torch

from agent_forge.data import check, generate, generate_corpus
from agent_forge.data.lm_text import format_example, format_prompt
from agent_forge.eval import greedy_completions, majority_rate, score_examples, wilson_interval
from agent_forge.model import CognateForCausalLM, cognate_tiny_config
from agent_forge.model.tokenizer import train_tokenizer


@pytest.fixture(scope="module")
def setup():
    rng = random.Random(0)
    examples = [generate("arithmetic", rng, 1) for _ in range(60)]
    texts = generate_corpus(0, min_bytes=20_000) + [format_example(e) for e in examples]
    tok = train_tokenizer(texts, 512)
    torch.manual_seed(0)
    model = CognateForCausalLM(cognate_tiny_config(vocab_size=512))
    return model, tok, examples


def test_untrained_model_scores_at_chance(setup):
    model, tok, examples = setup
    correct = score_examples(
        model,
        tok,
        examples,
        format_prompt,
        lambda ex, pred: check(ex.domain, ex, pred),
        max_new_tokens=6,
    )
    lo, _hi = wilson_interval(sum(correct), len(correct))
    assert lo <= majority_rate([e.answer for e in examples])
    assert all(check(e.domain, e, e.answer) for e in examples)  # the reference control: 100%


def test_only_new_tokens_are_decoded(setup):
    model, tok, examples = setup
    prompts = [format_example(e) for e in examples[:8]]  # the answer is inside the prompt
    outs = greedy_completions(model, tok, prompts, max_new_tokens=4, stop_at=None)
    for prompt, out in zip(prompts, outs, strict=True):
        assert not out.startswith(prompt[:10])
    batched = greedy_completions(model, tok, prompts, 4, batch_size=8, stop_at=None)
    single = [
        greedy_completions(model, tok, [p], 4, batch_size=1, stop_at=None)[0] for p in prompts
    ]
    assert batched == single  # left padding does not change the answers
