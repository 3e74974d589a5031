"""The population algorithm: the spec's generation arithmetic, champion kept, re-seeding on low
diversity, DEAP statistics, and determinism under a saved `random` state."""

from __future__ import annotations

import math
import random

from agent_forge.merging.evolution import (
    Member,
    SearchParams,
    crossover,
    diversity,
    initial_population,
    mutate,
    next_generation,
    statistics,
)
from agent_forge.merging.genome import Genome
from tests.merging.conftest import NUM_LAYERS


def _scored(seed=0):
    random.seed(seed)
    pop = initial_population(NUM_LAYERS, SearchParams(), 0)
    fitness = {m.id: 0.1 * i for i, m in enumerate(pop)}  # g0-7 best, g0-6 second
    return pop, fitness


def test_next_generation_is_six_mutants_of_the_top_two_and_two_children_of_the_rest():
    pop, fitness = _scored()
    champ = pop[7]
    new, reseeded = next_generation(pop, fitness, champ, SearchParams(), 1)
    assert len(new) == 8 and not reseeded
    mutants = [m for m in new if m.origin == "mutant"]
    assert [m.parents[0] for m in mutants] == ["g0-7"] * 3 + ["g0-6"] * 3
    kids = [m for m in new if m.origin in ("crossover", "champion")]
    assert len(kids) == 2
    crossed = [p for m in kids if m.origin == "crossover" for p in m.parents]
    assert set(crossed) <= {f"g0-{i}" for i in range(6)} and len(crossed) == len(set(crossed))
    # the mutants carry weight noise, so the champion's own genome is re-inserted
    assert kids[-1].origin == "champion" and kids[-1].genome.key() == champ.genome.key()


def test_mutation_moves_genes_within_bounds_and_records_the_weight_noise():
    pop, _ = _scored()
    random.seed(3)
    params = SearchParams(gene_sigma=0.5, gene_prob=1.0)
    m = mutate(pop[0], params, 1, 0)
    assert m.genome.genes != pop[0].genome.genes
    assert all(0.0 <= g <= 1.0 for g in m.genome.genes)
    assert all(g in (0.0, 1.0) for g in m.genome.genes[:3])
    assert len(m.genome.noise) == 1 and m.genome.noise[0].sigma == 0.01
    assert m.genome.noise[0].fraction == 0.01


def test_crossover_is_a_convex_combination_of_the_group():
    pop, _ = _scored()
    random.seed(1)
    child = crossover(pop[:3], 1, 0)
    for k in range(3, len(child.genome.genes)):
        vals = [m.genome.genes[k] for m in pop[:3]]
        assert min(vals) - 1e-9 <= child.genome.genes[k] <= max(vals) + 1e-9
    assert child.parents == [m.id for m in pop[:3]]


def test_diversity_is_zero_for_clones_and_low_diversity_reseeds():
    pop, fitness = _scored()
    clones = [Member(f"c{i}", Genome(list(pop[0].genome.genes)), 0, "gen0") for i in range(8)]
    assert diversity(clones) == 0.0
    assert diversity(pop) > 0.2  # generation 0's 8 combinations
    params = SearchParams(gene_sigma=0.0, weight_sigma=0.0, bit_prob=0.0)
    random.seed(0)
    cfit = {m.id: float(i) for i, m in enumerate(clones)}
    new, reseeded = next_generation(clones, cfit, clones[7], params, 1)
    assert reseeded
    assert sum(m.origin == "reseed" for m in new) >= 4
    assert diversity(new) > diversity(clones)


def test_same_random_state_gives_the_same_generation():
    pop, fitness = _scored()
    random.seed(42)
    state = random.getstate()
    a, _ = next_generation(pop, fitness, pop[7], SearchParams(), 1)
    random.setstate(state)
    b, _ = next_generation(pop, fitness, pop[7], SearchParams(), 1)
    assert [m.to_json() for m in a] == [m.to_json() for m in b]


def test_statistics_are_deap_statistics_of_the_fitness_values():
    rec = statistics().compile([0.2, 0.4, 0.6])
    assert math.isclose(rec["avg"], 0.4) and rec["min"] == 0.2 and rec["max"] == 0.6
    assert math.isclose(rec["std"], (0.08 / 3) ** 0.5)


def test_block_switches_flip_with_layer_prob():
    pop, _ = _scored()
    m = pop[0]  # frankenmerge: switches alternate 0, 1, ...
    layers = m.genome.layout(NUM_LAYERS)["layers"]
    flipped = mutate(m, SearchParams(gene_prob=0.0, bit_prob=0.0, layer_prob=1.0), 1, 0)
    assert flipped.genome.genes[layers] == [1.0 - g for g in m.genome.genes[layers]]
    kept = mutate(m, SearchParams(gene_prob=0.0, bit_prob=0.0, layer_prob=0.0), 1, 0)
    assert kept.genome.genes == m.genome.genes
