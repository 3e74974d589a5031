"""The search's resumable state: population, fitness cache (by recipe hash), DEAP logbook,
lineage, champion and the `random` state, written atomically after every generation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deap import tools

from agent_forge.core.step_markers import StepMarkers
from agent_forge.merging.evolution import Member, diversity, statistics

STATE_NAME = "state"  # <folder>/state.json, written after every generation


@dataclass
class SearchState:
    dir: Path
    population: list[Member]
    random_state: Any
    generation: int = 0  # the generation to score next
    cache: dict[str, dict[str, Any]] = field(default_factory=dict)  # genome key -> trial metrics
    records: list[dict[str, Any]] = field(default_factory=list)  # the logbook, one per generation
    lineage: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # member id -> member + fitness
    champion_id: str | None = None
    parent_fitness: list[float] | None = None
    parent_scores: list[dict[str, Any]] | None = None
    test_scores: dict[str, Any] | None = None
    stopped: bool = False
    reseeds: int = 0

    @property
    def champion(self) -> Member:
        assert self.champion_id is not None, "no generation scored yet"
        return Member.from_json(self.lineage[self.champion_id]["member"])

    def fitness_of(self, member_id: str) -> float:
        return float(self.lineage[member_id]["fitness"])

    def logbook(self) -> tools.Logbook:
        book = tools.Logbook()
        book.header = [
            "gen",
            "evals",
            "cache_hits",
            "avg",
            "std",
            "min",
            "max",
            "best",
            "diversity",
            "convergence",
        ]
        for r in self.records:
            book.record(**r)
        return book

    def record(self, gen: int, fitness: dict[str, float], cache_hits: int) -> None:
        """Log generation `gen` (DEAP statistics), extend the lineage, update the champion."""
        for m in self.population:
            self.lineage.setdefault(
                m.id,
                {
                    "member": m.to_json(),
                    "fitness": fitness[m.id],
                    "techniques": list(m.genome.techniques),
                },
            )
            best = self.champion_id is None or fitness[m.id] > self.fitness_of(self.champion_id)
            if best:
                self.champion_id = m.id
        stats = statistics().compile(list(fitness.values()))
        best_now = self.fitness_of(self.champion_id)  # type: ignore[arg-type]
        prev = [r["best"] for r in self.records]
        self.records.append(
            {
                "gen": gen,
                "evals": len(self.population) - cache_hits,
                "cache_hits": cache_hits,
                **{k: float(v) for k, v in stats.items()},
                "best": best_now,
                "diversity": diversity(self.population),
                "convergence": best_now - prev[-1] if prev else 0.0,
            }
        )

    def converged(self, patience: int, min_gain: float) -> bool:
        """The best fitness gained less than `min_gain` over the last `patience` generations."""
        best = [r["best"] for r in self.records]
        return len(best) > patience and best[-1] - best[-1 - patience] < min_gain

    # ---- persistence ------------------------------------------------------------------------
    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data = {k: v for k, v in self.__dict__.items() if k != "dir"}
        data["population"] = [m.to_json() for m in self.population]
        version, internal, gauss = self.random_state
        data["random_state"] = [version, list(internal), gauss]
        StepMarkers(self.dir).put(STATE_NAME, data)  # the one step-state writer (atomic)

    @classmethod
    def load(cls, folder: Path) -> SearchState | None:
        data = StepMarkers(folder).get(STATE_NAME)
        if data is None:
            return None
        version, internal, gauss = data.pop("random_state")
        pop = [Member.from_json(m) for m in data.pop("population")]
        return cls(folder, pop, (version, tuple(internal), gauss), **data)
