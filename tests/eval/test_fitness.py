"""Fitness terms: quality from measured loss and accuracy; speed and memory only where shapes
differ (computed from the state dicts, so a recipe's fitness is deterministic)."""

from __future__ import annotations

import math

import torch

from agent_forge.eval.fitness import (
    FitnessWeights,
    combine,
    fitness_terms,
    matmul_params,
    unique_bytes,
)


def test_terms_are_zero_at_uniform_guessing_and_one_at_perfection():
    t = fitness_terms(math.log(100), 0.0, 100)
    assert t == {"perplexity": 0.0, "accuracy": 0.0, "speed": 1.0, "memory": 1.0}
    t = fitness_terms(0.0, 1.0, 100)
    assert math.isclose(combine(t, FitnessWeights()), 1.0)
    assert fitness_terms(float("nan"), 0.5, 100)["perplexity"] == 0.0


def test_only_larger_or_slower_candidates_lose_speed_and_memory():
    assert fitness_terms(1.0, 0.5, 100, speed_ratio=2.0, memory_ratio=3.0)["speed"] == 1.0
    t = fitness_terms(1.0, 0.5, 100, speed_ratio=0.5, memory_ratio=0.25)
    assert t["speed"] == 0.5 and t["memory"] == 0.25
    w = FitnessWeights()
    assert math.isclose(combine(t, w), 0.4 * (1 - 1 / math.log(100)) + 0.15 + 0.1 + 0.025)


def test_matmul_work_counts_the_tied_head_and_bytes_count_it_once():
    emb = torch.zeros(10, 4)
    sd = {
        "model.embed_tokens.weight": emb,
        "lm_head.weight": emb,
        "w": torch.zeros(4, 4),
        "norm": torch.zeros(4),
    }
    assert matmul_params(sd) == 40 + 16
    assert unique_bytes(sd) == (40 + 16 + 4) * 4
