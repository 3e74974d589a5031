"""Thought measures: each coherence part at its known extremes, and the anti-theater comparison's
paired statistics (no gain when both sides are the same; a real gain and correlation found)."""

from __future__ import annotations

import math

import pytest
import torch

from agent_forge.eval.thought_quality import COHERENCE_WEIGHTS, anti_theater, thought_quality


def _quality(thoughts, targets, post, gain, nll, vocab=11):
    torch.manual_seed(0)
    embed = torch.randn(vocab, 8)
    r, b, t, _ = thoughts.shape
    return thought_quality(
        embed,
        thoughts,
        targets,
        torch.ones_like(targets, dtype=torch.bool),
        post,
        gain,
        nll,
        torch.ones(r, b, t, dtype=torch.bool),
        torch.ones(b, t, dtype=torch.bool),
    )


def test_each_part_at_its_extremes():
    targets = torch.tensor([[[3, 4], [5, 6]]])  # (B=1, T=2, n=2)
    same = targets[None].repeat(2, 1, 1, 1)  # both thoughts = the continuation
    logp = torch.log_softmax(torch.randn(1, 1, 2, 11), -1).repeat(2, 1, 1, 1)  # identical
    q = _quality(
        same, targets, logp, torch.tensor([[[1.0, -1.0]], [[0.5, 0.0]]]), torch.zeros(2, 1, 2)
    )
    assert torch.allclose(q.semantic, torch.ones(2, 1, 2))
    assert torch.allclose(q.logical, torch.ones(2, 1, 2), atol=1e-6)
    assert q.relevance.tolist() == [[[1.0, 0.0]], [[1.0, 0.0]]]  # gain > 0 only
    assert torch.allclose(q.fluency, torch.ones(2, 1, 2))
    s = q.summary()
    assert s["thoughts_generated"] == 4 and s["validity_rate"] == 1.0
    expected = sum(
        COHERENCE_WEIGHTS[k] * s[f"{n}"]
        for k, n in (
            ("semantic", "semantic_similarity"),
            ("logical", "logical_consistency"),
            ("relevance", "relevance_score"),
            ("fluency", "fluency_score"),
        )
    )
    assert s["avg_coherence"] == pytest.approx(expected)


def test_disjoint_predictions_disagree_and_uniform_thoughts_are_not_fluent():
    v = 11
    a = torch.full((v,), -1e4)
    a[0] = 0.0
    b = torch.full((v,), -1e4)
    b[1] = 0.0
    post = torch.stack([a, b]).view(2, 1, 1, v).log_softmax(-1)
    targets = torch.tensor([[[2]]])
    q = _quality(
        torch.tensor([[[[7]]], [[[8]]]]),
        targets,
        post,
        torch.zeros(2, 1, 1),
        torch.full((2, 1, 1), math.log(v)),
        vocab=v,
    )
    assert torch.allclose(q.logical, torch.zeros(2, 1, 1), atol=1e-5)
    assert torch.allclose(q.fluency, torch.zeros(2, 1, 1))


def test_anti_theater_finds_no_gain_when_thoughts_change_nothing():
    n = 50
    correct = [float(i % 3 == 0) for i in range(n)]
    items = {
        "correct_with": correct,
        "correct_without": correct,
        "nll_with": [1.0] * n,
        "nll_without": [1.0] * n,
        "tokens": [2.0] * n,
        "reward": [0.0] * n,
    }
    out = anti_theater(items, None, n_resamples=200)
    assert out["accuracy_gain"] == (0.0, 0.0, 0.0)
    assert out["reward_correctness_correlation"] is None  # constant reward: undefined
    assert out["answer_loss_change"] == (0.0, 0.0, 0.0)


def test_anti_theater_measures_a_real_gain_and_a_reward_that_predicts_correctness():
    n = 200
    without = [float(i % 4 == 0) for i in range(n)]
    with_ = [1.0 if i % 2 == 0 else w for i, w in enumerate(without)]  # fixes half the misses
    reward = [0.5 + 0.1 * (i % 5) if c else -0.2 for i, c in enumerate(with_)]
    items = {
        "correct_with": with_,
        "correct_without": without,
        "nll_with": [1.0] * n,
        "nll_without": [1.5] * n,
        "tokens": [1.0] * n,
        "reward": reward,
    }
    docs = {"nll_with": [3.0, 4.0], "nll_without": [3.0, 4.0], "tokens": [2.0, 2.0]}
    out = anti_theater(items, docs, n_resamples=500)
    gain, lo, hi = out["accuracy_gain"]
    assert gain == pytest.approx(0.25) and 0 < lo < gain < hi
    assert out["reward_correctness_correlation"] > 0.9
    assert out["answer_loss_change"][0] == pytest.approx(-0.5)
    assert out["doc_loss_change"][:1] == (0.0,) and out["doc_loss_with"][0] == pytest.approx(1.75)
