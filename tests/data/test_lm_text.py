"""The LM text format: a scored prompt is exactly a prefix of its training text, and it ends on a
token boundary of the tokenizer (no dangling space token)."""

import random

from agent_forge.data import check, generate, generate_corpus
from agent_forge.data.lm_text import format_example, format_prompt
from agent_forge.model.tokenizer import train_tokenizer


def test_prompt_is_a_token_prefix_of_the_training_text():
    rng = random.Random(0)
    examples = [generate(d, rng, 1) for d in ("arithmetic", "logic", "strings")]
    texts = generate_corpus(0, min_bytes=20_000) + [format_example(e) for e in examples]
    tok = train_tokenizer(texts, 512)
    for ex in examples:
        full = tok(format_example(ex), add_special_tokens=False).input_ids
        prompt = tok(format_prompt(ex), add_special_tokens=False).input_ids
        assert full[: len(prompt)] == prompt, ex.prompt
        completion = tok.decode(full[len(prompt) :])
        assert check(ex.domain, ex, completion.split("\n")[0])
