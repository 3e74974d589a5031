"""Held-out loss: every target token counted once, padding masked, equal to a hand computation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from agent_forge.eval.loss import heldout_loss, token_nll

TEXTS = [
    "The cat sat on the mat.",
    "Seven plus five is twelve, and twelve minus five is seven.",
    "a",
    "Question: 3 + 4\nAnswer: 7\n",
]


@torch.no_grad()
def _by_hand(model, tok, text):
    ids = torch.tensor([[tok.eos_token_id, *tok(text).input_ids, tok.eos_token_id]])
    logits = model(input_ids=ids, use_cache=False).logits[0, :-1].float()
    return float(F.cross_entropy(logits, ids[0, 1:], reduction="sum")), ids.shape[1] - 1


def test_matches_hand_computation_and_counts_tokens(cognate, tok):
    res = heldout_loss(cognate, tok, TEXTS, batch_size=4)
    for text, nll, n in zip(TEXTS, res.nll, res.tokens, strict=True):
        want_nll, want_n = _by_hand(cognate, tok, text)
        assert n == want_n == len(tok(text).input_ids) + 1  # the text's tokens and closing <eos>
        assert nll == pytest.approx(want_nll, rel=1e-5)
    assert res.mean_loss == pytest.approx(sum(res.nll) / sum(res.tokens))
    assert res.perplexity == pytest.approx(math.exp(res.mean_loss))


def test_padding_and_batch_size_do_not_change_the_loss(cognate, tok):
    batched = heldout_loss(cognate, tok, TEXTS, batch_size=4)
    single = heldout_loss(cognate, tok, TEXTS, batch_size=1)
    assert batched.tokens == single.tokens
    torch.testing.assert_close(
        torch.tensor(batched.nll), torch.tensor(single.nll), rtol=1e-5, atol=1e-4
    )


def test_long_documents_are_windowed_without_double_counting(cognate, tok):
    text = TEXTS[1] * 3
    whole = heldout_loss(cognate, tok, [text])
    windowed = heldout_loss(cognate, tok, [text], max_length=8)
    assert windowed.tokens == whole.tokens  # each target once, whatever the window
    ids = [tok.eos_token_id, *tok(text).input_ids, tok.eos_token_id]
    rows = [ids[s : s + 8] for s in range(0, len(ids) - 1, 7)]
    assert windowed.nll[0] == pytest.approx(
        float(sum(n.sum() for n in token_nll(cognate, rows))), rel=1e-5
    )
    assert windowed.nll[0] > whole.nll[0]  # less context per token costs loss


def test_untrained_model_scores_near_the_uniform_guess(cognate, tok):
    """Control: a random-initialised model's loss is about ln(vocab)."""
    res = heldout_loss(cognate, tok, TEXTS)
    assert abs(res.mean_loss - math.log(512)) < 0.1 * math.log(512)


def test_rejects_a_window_with_no_target(cognate, tok):
    with pytest.raises(ValueError, match="max_length"):
        heldout_loss(cognate, tok, TEXTS, max_length=1)
