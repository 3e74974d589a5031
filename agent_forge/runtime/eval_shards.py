"""Evaluation shards as Ray tasks (ARCHITECTURE.md §4): the weights go into the object store once,
each task rebuilds the model from its config, scores a contiguous slice of the suite's items, and
the driver concatenates the slices in order and summarises.

Shards are cut at multiples of the batch size, so every batch a shard scores is the batch the
single-process run scores: the merged result is the single-process result, not merely close to it.
"""

from __future__ import annotations

import time
from typing import Any

import ray

from agent_forge.eval.items import Suite
from agent_forge.eval.runner import EvalOptions, ItemScore, SuiteResult, score_items, summarise
from agent_forge.runtime.model_holder import load_weights
from agent_forge.runtime.object_store import as_state_dict, put_state_dict


def shard_bounds(n_items: int, n_shards: int, batch_size: int) -> list[tuple[int, int]]:
    """Contiguous [lo, hi) slices covering 0..n_items, each a whole number of batches (but the
    last), as even as that allows; never an empty slice."""
    if n_shards < 1 or batch_size < 1:
        raise ValueError(f"n_shards={n_shards} and batch_size={batch_size} must be >= 1")
    n_batches = -(-n_items // batch_size)
    n_shards = max(1, min(n_shards, n_batches))
    per, extra = divmod(n_batches, n_shards)
    bounds, lo = [], 0
    for s in range(n_shards):
        hi = min(n_items, lo + (per + (s < extra)) * batch_size)
        bounds.append((lo, hi))
        lo = hi
    return bounds


def _score_shard(
    config: Any,
    weights: list[ray.ObjectRef],
    tokenizer: Any,
    suite: Suite,
    lo: int,
    hi: int,
    opts: EvalOptions,
) -> list[ItemScore]:
    from transformers import AutoModelForCausalLM

    import agent_forge._auto_register  # noqa: F401  (model_type "cognate" for AutoModel)

    model = AutoModelForCausalLM.from_config(config)
    load_weights(model, as_state_dict(weights, copy=True))
    model.eval()
    return score_items(model, tokenizer, suite, suite.items[lo:hi], opts)


def evaluate_sharded(
    model: Any,
    tokenizer: Any,
    suite: Suite,
    opts: EvalOptions,
    n_shards: int,
    cpus_per_shard: float = 1.0,
) -> SuiteResult:
    """`runner.evaluate_suite`, with the items scored by `n_shards` Ray tasks."""
    start = time.perf_counter()
    weights = put_state_dict(model.state_dict())
    suite_ref = ray.put(suite)  # one copy of the items for all shards
    task = ray.remote(num_cpus=cpus_per_shard)(_score_shard)
    bounds = shard_bounds(len(suite.items), n_shards, opts.batch_size)
    refs = [
        task.remote(model.config, [weights], tokenizer, suite_ref, lo, hi, opts)
        for lo, hi in bounds
    ]
    items: list[ItemScore] = [row for part in ray.get(refs) for row in part]
    result = summarise(suite, items, opts, int(model.config.vocab_size))
    result.seconds = time.perf_counter() - start
    return result
