"""Score a population as Ray Tune trials, one resident model per trial actor.

The trainable keeps a `LocalModelHolder` (runtime/model_holder.py) for its lifetime. With
`reuse_actors=True`, Tune hands the same actor the next candidate through `reset_config`, so a
worker builds its model once and then only copies each candidate's weights into it: no model
rebuild (unless the depth changes) and no disk write per candidate. Shared inputs (the parents'
weights, suites, tokenizer) go to the object store once, through `tune.with_parameters`.
A trial that raises is reported as failed with its error; the search goes on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ray import tune

from agent_forge.runtime.model_holder import LocalModelHolder

log = logging.getLogger(__name__)

ScoreFn = Callable[[LocalModelHolder, dict[str, Any], dict[str, Any]], dict[str, Any]]


@dataclass
class TrialOutcome:
    candidate: dict[str, Any]
    metrics: dict[str, Any] | None  # None when the trial failed
    error: str | None = None


class HolderTrainable(tune.Trainable):
    """One candidate per trial: `score_fn(holder, candidate, shared)` -> metrics."""

    def setup(
        self,
        config: dict[str, Any],
        score_fn: ScoreFn | None = None,
        shared: dict[str, Any] | None = None,
    ) -> None:
        import ray
        import torch

        gpus = ray.get_runtime_context().get_accelerator_ids().get("GPU", [])
        self.holder = LocalModelHolder("cuda" if gpus else "cpu")
        cpus = max(1, int(self.trial_resources.required_resources.get("CPU", 1)))
        torch.set_num_threads(cpus)
        self.score_fn, self.shared = score_fn, shared or {}
        self.candidate = config["candidate"]

    def step(self) -> dict[str, Any]:
        assert self.score_fn is not None
        return {**self.score_fn(self.holder, self.candidate, self.shared), "done": True}

    def save_checkpoint(self, checkpoint_dir: str) -> dict[str, Any]:
        return {}  # one step per trial: nothing to resume inside a trial (the search resumes)

    def load_checkpoint(self, checkpoint: Any) -> None:
        return None

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        self.candidate = new_config["candidate"]
        return True  # the resident model stays; the next step loads new weights into it


def run_trials(
    candidates: list[dict[str, Any]],
    score_fn: ScoreFn,
    shared: dict[str, Any],
    resources: dict[str, float],
    storage_path: str,
    name: str,
    max_concurrent: int,
    reuse_actors: bool = True,
) -> list[TrialOutcome]:
    """Score every candidate (each a dict with a unique "id"); outcomes in candidate order."""
    if not candidates:
        return []
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: no per-trial tables
    trainable = tune.with_resources(
        tune.with_parameters(HolderTrainable, score_fn=score_fn, shared=shared), resources
    )
    tuner = tune.Tuner(
        trainable,
        param_space={"candidate": tune.grid_search(candidates)},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=max_concurrent, reuse_actors=reuse_actors
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage_path,
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
            stop={"training_iteration": 1},
        ),
    )
    grid = tuner.fit()
    by_id: dict[str, TrialOutcome] = {}
    for result in grid:
        cand = result.config["candidate"] if result.config else None
        if cand is None:
            continue
        if result.error is not None:
            log.warning("candidate %s failed: %s", cand["id"], result.error)
            by_id[cand["id"]] = TrialOutcome(
                cand, None, f"{type(result.error).__name__}: {result.error}"
            )
        else:
            by_id[cand["id"]] = TrialOutcome(cand, dict(result.metrics or {}))
    return [by_id.get(c["id"], TrialOutcome(c, None, "no result from Tune")) for c in candidates]
