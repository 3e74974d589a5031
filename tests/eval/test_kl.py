"""Next-token KL: zero against itself, positive against another model, equal to a hand
computation.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from agent_forge.eval.kl import next_token_kl

TEXTS = ["The cat sat on the mat.", "Question: 3 + 4\nAnswer: 7", "ok"]


def test_kl_to_itself_is_zero(cognate, tok):
    res = next_token_kl(cognate, cognate, tok, TEXTS)
    assert res.mean == pytest.approx(0.0, abs=1e-6)
    assert res.positions == [len(tok(t).input_ids) + 1 for t in TEXTS]


@torch.no_grad()
def test_kl_to_another_model_matches_a_hand_computation(cognate, cognate_b, tok):
    res = next_token_kl(cognate_b, cognate, tok, TEXTS, batch_size=2)
    assert res.mean > 0
    ids = torch.tensor([[tok.eos_token_id, *tok(TEXTS[0]).input_ids]])
    p = F.log_softmax(cognate(input_ids=ids).logits[0].float(), -1)
    q = F.log_softmax(cognate_b(input_ids=ids).logits[0].float(), -1)
    want = float(F.kl_div(q, p, log_target=True, reduction="sum"))  # KL(p || q)
    assert res.kl[0] == pytest.approx(want, rel=1e-4)


def test_vocab_mismatch_is_an_error(cognate, tok):
    from agent_forge.model import CognateForCausalLM, cognate_tiny_config

    other = CognateForCausalLM(cognate_tiny_config(vocab_size=600, act_max_steps=2))
    with pytest.raises(ValueError, match="vocab"):
        next_token_kl(other, cognate, tok, TEXTS)
