"""What one Tune trial does: build a candidate in memory, load it into the trial's resident
model, score it on held-out suites, and turn the scores into fitness. Runs inside Ray actors."""

from __future__ import annotations

import copy
import os
import time
from typing import Any

from agent_forge.eval.fitness import (
    FitnessWeights,
    combine,
    fitness_terms,
    matmul_params,
    unique_bytes,
)
from agent_forge.eval.runner import EvalOptions, evaluate_suite
from agent_forge.merging import count_layers
from agent_forge.merging.genome import BASE_REF, PARENT_REFS, Genome, build_candidate
from agent_forge.merging.multistage import apply_recipes
from agent_forge.merging.recipe import load_recipes
from agent_forge.runtime.model_holder import LocalModelHolder
from agent_forge.runtime.object_store import as_state_dict
from agent_forge.runtime.ray_runtime import current_node_id

_RESOLVED: dict[str, Any] = {}  # object-store weights, fetched once per actor (zero-copy)


def _weights(ref: Any) -> Any:
    key = ref.hex() if hasattr(ref, "hex") else str(id(ref))
    if key not in _RESOLVED:
        _RESOLVED[key] = as_state_dict(ref)
    return _RESOLVED[key]


def candidate_state(cand: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """The state dict of a candidate: {"kind": "parent", "index": i} | {"kind": "genome",
    "genome": {...}} | {"kind": "recipe", "yaml": "..."} (references parent_1..3, shared_init)."""
    parents = [_weights(r) for r in shared["parents"]]
    base = _weights(shared["base"])
    if cand["kind"] == "parent":
        return parents[cand["index"]]
    if cand["kind"] == "genome":
        return build_candidate(Genome.from_json(cand["genome"]), parents, base)[0]
    if cand["kind"] == "recipe":
        models = dict(zip(PARENT_REFS, parents, strict=True)) | {BASE_REF: base}
        return apply_recipes(load_recipes(cand["yaml"]), models)
    raise ValueError(f"unknown candidate kind {cand['kind']!r}")


def _load(holder: LocalModelHolder, sd: dict[str, Any], config: Any) -> None:
    """Copy `sd` into the resident model; rebuild it only when the depth changes (dfs)."""
    depth = count_layers(sd)
    if holder.model is not None and holder.model.config.num_hidden_layers == depth:
        holder.load_state(sd)
        return
    from transformers import AutoModelForCausalLM

    cfg = copy.deepcopy(config)
    cfg.num_hidden_layers = depth
    holder.load(lambda: AutoModelForCausalLM.from_config(cfg), sd)


def score_candidate(
    holder: LocalModelHolder, cand: dict[str, Any], shared: dict[str, Any]
) -> dict[str, Any]:
    """Build, load and score one candidate; fitness and its terms, scores with 95% CIs."""
    t0 = time.perf_counter()
    sd = candidate_state(cand, shared)
    t1 = time.perf_counter()
    _load(holder, sd, shared["model_config"])
    out = holder.apply(score_model, sd, shared, cand.get("split", "selection"))
    return out | {"merge_seconds": t1 - t0, "eval_seconds": time.perf_counter() - t1}


def score_model(
    model: Any, sd: dict[str, Any], shared: dict[str, Any], split: str
) -> dict[str, Any]:
    """Score `model` (whose weights are `sd`) on `split`'s suites; fitness and its terms."""
    opts: EvalOptions = shared["eval_options"]
    tok = shared["tokenizer"]
    tasks, loss = shared["suites"][split]
    acc = evaluate_suite(model, tok, tasks, opts).metrics["exact_match"]
    nll = evaluate_suite(model, tok, loss, opts).metrics["loss"]
    parent0 = _weights(shared["parents"][0])
    terms = fitness_terms(
        nll.value,
        acc.value,
        int(shared["model_config"].vocab_size),
        matmul_params(parent0) / matmul_params(sd),
        unique_bytes(parent0) / unique_bytes(sd),
    )
    return {
        "fitness": combine(terms, FitnessWeights(**shared["weights"])),
        **{f"term_{k}": v for k, v in terms.items()},
        "accuracy": acc.value,
        "accuracy_lo": acc.ci95[0],
        "accuracy_hi": acc.ci95[1],
        "accuracy_n": acc.n,
        "accuracy_chance": acc.chance,
        "loss": nll.value,
        "loss_lo": nll.ci95[0],
        "loss_hi": nll.ci95[1],
        "loss_n": nll.n,
        "num_layers": count_layers(sd),
        "pid": os.getpid(),
        "node_id": current_node_id(),
    }
