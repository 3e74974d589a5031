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
from agent_forge.eval.generation import GenerationConfig
from agent_forge.eval.generation import generate as decode
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


# --- generate: the one decode loop (a real tiny Cognate + the BPE `tok` of conftest) ---


@pytest.fixture(scope="module")
def lively():
    """The tiny Cognate at a wider init (std 0.2): untrained at 0.02 with tied embeddings, it
    repeats its last token forever, which would make most checks below vacuous."""
    torch.manual_seed(0)
    cfg = cognate_tiny_config(vocab_size=512, act_max_steps=2, initializer_range=0.2)
    return CognateForCausalLM(cfg).eval()


PROMPTS = [
    "Question: What is 6 + 4?\nAnswer:",
    "Hello",
    "Question: Sort the words: pear, apple, fig, banana, cherry\nAnswer:",
    "The cat",
]


def hf_greedy(model, tok, prompts, n):
    """HF `model.generate` greedy, left-padded, new tokens only, cut after the first eos."""
    old, tok.padding_side = tok.padding_side, "left"
    try:
        enc = tok(prompts, return_tensors="pt", padding=True)
    finally:
        tok.padding_side = old
    with torch.no_grad():
        out = model.generate(
            **enc,
            max_new_tokens=n,
            do_sample=False,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
        )
    rows = []
    for row in out[:, enc.input_ids.shape[1] :].tolist():
        cut = row.index(tok.eos_token_id) + 1 if tok.eos_token_id in row else len(row)
        rows.append(tuple(row[:cut]))
    return rows


def test_greedy_equals_hf_generate_token_for_token(lively, tok):
    gens = decode(lively, tok, PROMPTS, GenerationConfig(max_new_tokens=12))
    assert [g.token_ids for g in gens] == hf_greedy(lively, tok, PROMPTS, 12)
    assert all(g.finished_by in ("length", "eos") for g in gens)
    assert {len(g.token_ids) for g in gens if g.finished_by == "length"} == {12}


def test_only_new_tokens_and_greedy_wrapper_agrees(lively, tok):
    cfg = GenerationConfig(max_new_tokens=6)
    gens = decode(lively, tok, PROMPTS, cfg)
    for p, g in zip(PROMPTS, gens, strict=True):
        assert g.text == tok.decode(list(g.token_ids), skip_special_tokens=True)
        assert not g.text.startswith(p[:5])
    assert greedy_completions(lively, tok, PROMPTS, 6, stop_at=None) == [g.text for g in gens]
    # token ids as prompts: the same continuation as the string
    ids = [tok(p).input_ids for p in PROMPTS]
    assert [g.token_ids for g in decode(lively, tok, ids, cfg)] == [g.token_ids for g in gens]


def test_batch_composition_does_not_change_a_greedy_row(lively, tok):
    cfg = GenerationConfig(max_new_tokens=10, batch_size=8)
    alone = decode(lively, tok, ["Hello"], cfg)[0]
    crowd = decode(lively, tok, [PROMPTS[2], "Hello", PROMPTS[0]], cfg)[1]
    split = decode(lively, tok, [PROMPTS[2], "Hello"], cfg.model_copy(update={"batch_size": 1}))
    assert alone.token_ids == crowd.token_ids == split[1].token_ids


def test_per_row_temperature_and_seeds(lively, tok):
    p = PROMPTS[0]
    greedy = decode(lively, tok, [p], GenerationConfig(max_new_tokens=8))[0]

    def run(seed, **kw):
        cfg = GenerationConfig(max_new_tokens=8, temperature=[0.0, 1.5], seed=seed, **kw)
        return [g.token_ids for g in decode(lively, tok, [p, p], cfg)]

    a, b, a_again = run(0), run(1), run(0)
    assert a[0] == b[0] == greedy.token_ids  # the temperature-0 row is greedy
    assert a[1] != b[1] and a[1] != greedy.token_ids  # the sampled row depends on the seed
    assert a == a_again  # same seed: the same samples
    top1 = run(3, top_k=1)  # top-k 1 (and a tiny top-p) leave only the argmax
    assert top1[1] == greedy.token_ids and run(4, top_p=1e-6)[1] == greedy.token_ids
    nucleus = run(0, top_k=50, top_p=0.9)[1]
    # One stream per (seed, row): two sampled rows differ, and batch size changes nothing.
    hot = GenerationConfig(max_new_tokens=8, temperature=1.5, batch_size=1)
    one_by_one = [g.token_ids for g in decode(lively, tok, [p, p], hot)]
    together = [
        g.token_ids for g in decode(lively, tok, [p, p], hot.model_copy(update={"batch_size": 2}))
    ]
    assert one_by_one == together and together[0] != together[1]
    assert len(nucleus) == 8 and nucleus == run(0, top_k=50, top_p=0.9)[1]


def test_stop_strings_cut_and_finish_a_row(lively, tok):
    free = decode(lively, tok, PROMPTS, GenerationConfig(max_new_tokens=12))
    row = next(g for g in free if len(g.text) > 3 and g.finished_by == "length")
    stop = row.text[3:5]  # a string this greedy row is known to produce
    i = free.index(row)
    cut = decode(lively, tok, PROMPTS, GenerationConfig(max_new_tokens=12, stop=[stop]))[i]
    assert cut.finished_by == "stop"
    assert cut.text == row.text[: row.text.find(stop)] and stop not in cut.text and cut.text
    assert len(cut.token_ids) < 12 and row.token_ids[: len(cut.token_ids)] == cut.token_ids


def test_splice_hook_puts_the_tokens_into_the_context(lively, tok):
    splice = "<tool_result>42</tool_result>"
    calls: dict[int, int] = {}

    def hook(row: int, text: str) -> str | None:
        calls[row] = calls.get(row, 0) + 1
        return splice if row == 0 and calls[row] == 3 else None  # after 3 generated tokens

    cfg = GenerationConfig(max_new_tokens=8, skip_special_tokens=False)
    gens = decode(lively, tok, PROMPTS[:2], cfg, hook=hook)
    g, plain = gens[0], decode(lively, tok, PROMPTS[:2], cfg)
    assert gens[1] == plain[1]  # the other row is untouched
    (s,) = g.splices
    spliced = tuple(tok(splice, add_special_tokens=False).input_ids)
    assert (s.at, s.text, s.token_ids) == (3, splice, spliced)
    assert (
        g.token_ids[:3] == plain[0].token_ids[:3] and g.token_ids[3 : 3 + len(spliced)] == spliced
    )
    assert splice in g.text and g.num_generated == 8  # spliced tokens are not in the budget
    assert g.generated_mask.count(False) == len(spliced)
    assert g.token_ids[3 + len(spliced) :] != plain[0].token_ids[3:8]  # the splice mattered
    # The continuation is what the model says after prompt + generated + splice, directly:
    context = tok(PROMPTS[0]).input_ids + list(g.token_ids[: 3 + len(spliced)])
    direct = decode(lively, tok, [context], cfg.model_copy(update={"max_new_tokens": 5}))[0]
    assert g.token_ids[3 + len(spliced) :] == direct.token_ids


def test_bad_input(lively, tok):
    assert decode(lively, tok, [], GenerationConfig()) == []
    with pytest.raises(ValueError, match="temperature"):
        GenerationConfig(temperature=-0.5)
    with pytest.raises(ValueError, match="temperature"):
        GenerationConfig(temperature=[0.0, -1.0])
    with pytest.raises(ValueError, match="temperature has 1 values for 2 prompts"):
        decode(lively, tok, ["a", "b"], GenerationConfig(temperature=[1.0]))
    with pytest.raises(ValueError, match=r"prompts\[0\] is empty"):
        decode(lively, tok, [[]], GenerationConfig())
