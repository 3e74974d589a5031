"""The evolutionary search: its first population and `random` state (`fresh_state`), and one
generation step (`run_generation`): score the unscored genomes as Tune trials, log the
generation, checkpoint the champion, test for convergence, breed the next population."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent_forge.config.evomerge_config import EvoMergeConfig
from agent_forge.core.contracts import PhaseContext
from agent_forge.merging.evolution import SearchParams, initial_population, next_generation
from agent_forge.phases.evomerge import report
from agent_forge.phases.evomerge.champion import save_elite
from agent_forge.phases.evomerge.state import SearchState

log = logging.getLogger(__name__)
Score = Callable[[list[dict[str, Any]], str], list[dict[str, Any]]]  # candidates, label -> metrics


def search_params(c: EvoMergeConfig) -> SearchParams:
    names = SearchParams.__dataclass_fields__.keys() - {"population"}
    return SearchParams(population=c.population_size, **{k: getattr(c, k) for k in names})


def fresh_state(c: EvoMergeConfig, num_layers: int, folder: Path) -> SearchState:
    rng = random.Random(c.seed)
    pop = initial_population(num_layers, search_params(c), c.seed)
    return SearchState(folder, population=pop, random_state=rng.getstate())


def run_generation(
    state: SearchState,
    c: EvoMergeConfig,
    ctx: PhaseContext,
    shared: dict[str, Any],
    score: Score,
) -> None:
    gen = state.generation
    todo = {m.genome.key(): m for m in state.population if m.genome.key() not in state.cache}
    cands = [{"id": m.id, "kind": "genome", "genome": m.genome.to_json()} for m in todo.values()]
    for m, out in zip(todo.values(), score(cands, f"gen{gen}"), strict=True):
        state.cache[m.genome.key()] = out
    fitness = {m.id: state.cache[m.genome.key()]["fitness"] for m in state.population}
    state.record(gen, fitness, cache_hits=len(state.population) - len(todo))
    r = state.records[-1]
    log.info(
        "generation %d/%d: best %.4f, mean %.4f, diversity %.2f (%d scored, %d cached)",
        gen,
        c.generations,
        r["best"],
        r["avg"],
        r["diversity"],
        r["evals"],
        r["cache_hits"],
    )
    ctx.log(report.generation_metrics(state, gen), step=gen)
    save_elite(state, shared, c.max_models_on_disk)
    state.stopped = state.converged(c.early_stop_generations, c.early_stop_min_gain)
    state.generation += 1
    if state.generation <= c.generations and not state.stopped:
        random.setstate(state.random_state)  # DEAP's operators draw from `random`
        state.population, reseeded = next_generation(
            state.population, fitness, state.champion, search_params(c), state.generation
        )
        state.random_state = random.getstate()
        state.reseeds += int(reseeded)
    state.save()
