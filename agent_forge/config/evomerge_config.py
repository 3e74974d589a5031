"""`phases.evomerge:` — Phase 2's search (SPEC_NOTES Phase 2; docs/phases/evomerge.md).

Defaults are the `tiny` profile's (a few generations on a 2-core CPU); consumer-gpu.yaml sets the
spec's 50 generations. Every number of the algorithm is here, none is in the phase's code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class FitnessWeightsConfig(_Strict):
    """Weights of the fitness terms, each in [0, 1] (agent_forge/eval/fitness.py)."""

    perplexity: float = Field(0.4, ge=0, description="1 - held-out loss / ln(vocab).")
    accuracy: float = Field(0.3, ge=0, description="Exact match on the selection tasks.")
    speed: float = Field(0.2, ge=0, description="min(1, parent / candidate matmul work).")
    memory: float = Field(0.1, ge=0, description="min(1, parent / candidate bytes).")


class EvoMergeConfig(_Strict):
    """Phase 2: evolve 3-stage merge recipes of the three Phase 1 models on Ray Tune."""

    generations: int = Field(6, ge=0, le=10000, description="Generations after generation 0.")
    population_size: int = Field(8, ge=2, le=1024)
    elites: int = Field(2, ge=1, description="Top members mutated each generation.")
    mutants_per_elite: int = Field(3, ge=0)
    group_size: int = Field(3, ge=2, description="The rest are merged in groups of this size.")
    gene_sigma: float = Field(0.1, ge=0, le=1, description="Gaussian mutation of recipe genes.")
    gene_prob: float = Field(0.2, ge=0, le=1, description="Per-gene mutation probability.")
    bit_prob: float = Field(0.05, ge=0, le=1, description="Per-technique-bit flip probability.")
    layer_prob: float = Field(
        0.1, ge=0, le=1, description="Per-block-switch flip probability (frankenmerge, dfs)."
    )
    weight_sigma: float = Field(0.01, ge=0, description="Weight-noise mutation: std dev.")
    weight_fraction: float = Field(0.01, ge=0, le=1, description="Weight-noise: share of entries.")
    ties_density: float = Field(0.2, gt=0, le=1, description="Generation 0's TIES keep share.")
    dare_drop: float = Field(0.9, ge=0, lt=1, description="Generation 0's DARE drop rate.")
    diversity_threshold: float = Field(0.2, ge=0, le=1, description="Re-seed below this.")
    keep_champion: bool = Field(True, description="The best-ever genome stays in the population.")
    early_stop_generations: int = Field(5, ge=1, description="Stop after this many generations...")
    early_stop_min_gain: float = Field(0.001, ge=0, description="...gaining less than this.")
    max_models_on_disk: int = Field(12, ge=2, description="Elite checkpoints kept (champion too).")
    seed: int = Field(0, ge=0)
    fitness: FitnessWeightsConfig = Field(default_factory=FitnessWeightsConfig)
    levels: list[int] = Field(
        default_factory=lambda: [1, 2], min_length=1, description="Task levels scored."
    )
    per_level: int = Field(40, ge=1, description="Task items per level (selection and test).")
    loss_items: int | None = Field(200, ge=1, description="Held-out loss documents (None: all).")
    max_new_tokens: int = Field(12, ge=1)
    min_fitness_vs_best_parent: float = Field(
        1.0, ge=0, description="Gate: champion fitness >= this x the best parent's."
    )
    min_test_accuracy_retention: float = Field(
        0.95, ge=0, le=1, description="Gate: champion test accuracy >= this x the best parent's."
    )
    on_gate_fail: Literal["fail", "best_parent"] = Field(
        "best_parent",
        description="When the champion fails the gate: 'fail' stops the run; 'best_parent' hands "
        "on a copy of the best parent (by selection fitness) with merge_technique 'none' and the "
        "gate's failure recorded, and the run goes on (reported as a fallback, never as a pass).",
    )
    report_baselines: bool = Field(
        True, description="Also score untuned linear and TIES merges on the test split."
    )

    @model_validator(mode="after")
    def _fits(self) -> EvoMergeConfig:
        if self.elites > self.population_size:
            raise ValueError(f"elites ({self.elites}) exceed population_size")
        return self
