"""Evaluation shards as Ray tasks: the merged result equals the single-process result exactly."""

from __future__ import annotations

import random

import pytest

from agent_forge.data import generate
from agent_forge.data.lm_text import format_example, format_prompt
from agent_forge.eval.items import ChoiceItem, GenerationItem, Suite, TextItem
from agent_forge.eval.runner import EvalOptions, evaluate_suite
from agent_forge.runtime.eval_shards import evaluate_sharded, shard_bounds


def test_shard_bounds_cover_items_at_batch_boundaries():
    assert shard_bounds(10, 3, 4) == [(0, 4), (4, 8), (8, 10)]
    assert shard_bounds(100, 3, 16) == [(0, 48), (48, 80), (80, 100)]
    assert shard_bounds(5, 8, 16) == [(0, 5)]  # never an empty shard
    for n, k, b in [(1, 1, 1), (37, 4, 5), (64, 2, 32)]:
        bounds = shard_bounds(n, k, b)
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(hi == lo2 for (_, hi), (lo2, _) in zip(bounds, bounds[1:], strict=False))
        assert all((hi - lo) % b == 0 for lo, hi in bounds[:-1])
    with pytest.raises(ValueError):
        shard_bounds(10, 0, 4)


def _suites():
    rng = random.Random(3)
    ex = [generate("arithmetic", rng, 1 + i % 2) for i in range(20)]
    gen = Suite(
        "gen",
        "generation",
        [
            GenerationItem(
                e.uid, format_prompt(e), e.answer, f"task:{e.checker}", f"level_{e.level}"
            )
            for e in ex
        ],
        chance=0.1,
        metrics=("exact_match",),
        max_new_tokens=4,
    )
    mc = Suite(
        "mc",
        "choice",
        [ChoiceItem.shared(e.uid, format_prompt(e), [f" {e.answer}", " 0", " 1"], 0) for e in ex],
        chance=1 / 3,
        metrics=("acc", "acc_norm"),
    )
    loss = Suite(
        "loss",
        "loss",
        [TextItem(e.uid, format_example(e)) for e in ex],
        chance=float("nan"),
        metrics=("loss", "perplexity"),
        higher_is_better=False,
    )
    return [gen, mc, loss]


@pytest.mark.ray
def test_sharded_equals_single_process(ray_session, cognate, tok):
    opts = EvalOptions(batch_size=4, bootstrap_resamples=200)
    for suite in _suites():
        single = evaluate_suite(cognate, tok, suite, opts)
        sharded = evaluate_sharded(cognate, tok, suite, opts, n_shards=3)
        assert [i.id for i in sharded.items] == [i.id for i in single.items]
        assert [i.scores for i in sharded.items] == [i.scores for i in single.items], suite.name
        assert [i.output for i in sharded.items] == [i.output for i in single.items]
        assert sharded.metrics == single.metrics and sharded.groups == single.groups
