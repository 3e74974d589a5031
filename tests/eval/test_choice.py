"""Multiple choice: log-likelihoods equal a hand computation; acc / acc_norm / mc2 on known
scores.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from agent_forge.eval.choice import ChoiceScore, choice_logprobs, choice_metrics, encode_pair
from agent_forge.eval.items import ChoiceItem

ITEMS = [
    ChoiceItem.shared("q1", "Question: 2 + 2\nAnswer:", [" 4", " 5", " twenty two"], 0),
    ChoiceItem.shared("q2", "The sky is ", ["blue", "green"], 0),  # trailing space moves
    ChoiceItem("w1", ("Anna gave Maria", "Maria gave Anna"), (" a gift.", " a gift."), 1),
]


@torch.no_grad()
def _by_hand(model, tok, context, continuation):
    ctx, cont = encode_pair(tok, context, continuation)
    ids = torch.tensor([ctx + cont])
    logp = F.log_softmax(model(input_ids=ids, use_cache=False).logits[0].float(), -1)
    return sum(float(logp[len(ctx) - 1 + i, t]) for i, t in enumerate(cont))


def test_logprobs_match_a_hand_computation(cognate, tok):
    scores = choice_logprobs(cognate, tok, ITEMS, batch_size=3)
    for item, score in zip(ITEMS, scores, strict=True):
        for i, (c, k) in enumerate(zip(item.contexts, item.continuations, strict=True)):
            assert score.logprobs[i] == pytest.approx(_by_hand(cognate, tok, c, k), rel=1e-4)
            assert score.chars[i] == len(k)


def test_batching_does_not_change_scores(cognate, tok):
    a = choice_logprobs(cognate, tok, ITEMS, batch_size=8)
    b = choice_logprobs(cognate, tok, ITEMS, batch_size=1)
    for x, y in zip(a, b, strict=True):
        assert x.logprobs == pytest.approx(y.logprobs, rel=1e-4, abs=1e-4)


def test_trailing_space_of_the_context_joins_the_continuation(tok):
    ctx, cont = encode_pair(tok, "The sky is ", "blue")
    assert ctx[0] == tok.eos_token_id
    assert tok.decode(ctx[1:]) == "The sky is"
    assert tok.decode(cont) == " blue"


def test_acc_and_acc_norm_on_known_scores():
    item = ChoiceItem.shared("x", "ctx", ["ab", "abcdefghij"], gold=1)
    score = ChoiceScore(logprobs=[-4.0, -5.0], chars=[2, 10], tokens=[1, 3])
    # sum: -4 > -5 picks choice 0 (wrong); per char: -2.0 < -0.5 picks choice 1 (right)
    assert choice_metrics(item, score) == {"acc": 0.0, "acc_norm": 1.0}


def test_mc2_is_the_probability_mass_on_true_choices():
    item = ChoiceItem.shared("t", "q", ["a", "b", "c"], gold=0, true_mask=(True, False, True))
    lp = [math.log(0.5), math.log(0.3), math.log(0.2)]
    m = choice_metrics(item, ChoiceScore(lp, [1, 1, 1], [1, 1, 1]))
    assert m["mc2"] == pytest.approx(0.7)
    assert m["acc"] == 1.0


def test_bad_items_are_rejected():
    with pytest.raises(ValueError, match="gold"):
        ChoiceItem.shared("bad", "q", ["a", "b"], gold=2)
    with pytest.raises(ValueError, match="2 choices"):
        ChoiceItem.shared("bad", "q", ["a"], gold=0)
