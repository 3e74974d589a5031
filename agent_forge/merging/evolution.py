"""The EvoMerge population algorithm (SPEC_NOTES Phase 2), on DEAP's operators and logbook.

Generation 0 is the 8 technique combinations. Each next generation: the top `elites` are each
mutated `mutants_per_elite` times (DEAP's Gaussian gene mutation and bit flips, block switches
flipped with `layer_prob`, plus the spec's
weight noise, recorded in the genome so it is reproducible); the rest are shuffled into groups of
`group_size`, each merged into one child by a random convex combination; the champion (best
ever) takes the last child's place when it would otherwise drop out. When diversity falls below
the threshold, everyone but the champion and the best elite's mutants is replaced at random.

Randomness is Python's `random` module (DEAP's convention): the caller seeds it and saves its
state per generation (phases/evomerge.py), so a resumed search continues the same stream.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

import numpy as np
from deap import tools

from agent_forge.merging.genome import Genome, Noise, default_genome


@dataclass
class SearchParams:
    population: int = 8
    elites: int = 2
    mutants_per_elite: int = 3
    group_size: int = 3
    gene_sigma: float = 0.1
    gene_prob: float = 0.2
    bit_prob: float = 0.05
    layer_prob: float = 0.1
    weight_sigma: float = 0.01
    weight_fraction: float = 0.01
    diversity_threshold: float = 0.2
    keep_champion: bool = True
    ties_density: float = 0.2
    dare_drop: float = 0.9


@dataclass
class Member:
    """A population slot: its genome and where it came from (the lineage)."""

    id: str
    genome: Genome
    generation: int
    origin: str  # "gen0", "mutant", "crossover", "reseed", "champion"
    parents: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "genome": self.genome.to_json(),
            "generation": self.generation,
            "origin": self.origin,
            "parents": list(self.parents),
        }

    @classmethod
    def from_json(cls, d: dict) -> Member:
        return cls(
            d["id"], Genome.from_json(d["genome"]), d["generation"], d["origin"], list(d["parents"])
        )


def initial_population(num_layers: int, params: SearchParams, seed: int) -> list[Member]:
    """The 8 combinations of (linear|slerp) x (dare|ties) x (frankenmerge|dfs), in code order;
    a population other than 8 repeats or truncates the codes."""
    return [
        Member(
            f"g0-{i}",
            default_genome(i % 8, num_layers, seed + i, params.ties_density, params.dare_drop),
            0,
            "gen0",
        )
        for i in range(params.population)
    ]


def mutate(m: Member, params: SearchParams, gen: int, idx: int) -> Member:
    genes = list(m.genome.genes)
    bits, rest = genes[:3], genes[3:]
    (rest,) = tools.mutGaussian(rest, mu=0.0, sigma=params.gene_sigma, indpb=params.gene_prob)
    (bits,) = tools.mutFlipBit([int(b >= 0.5) for b in bits], indpb=params.bit_prob)
    genes = [float(b) for b in bits] + [min(1.0, max(0.0, g)) for g in rest]
    # block choices are switches: a Gaussian step of gene_sigma almost never crosses 0.5 from
    # 0 or 1, so each is also flipped (mirrored about 0.5) with probability layer_prob
    layers = m.genome.layout(m.genome.num_layers)["layers"]
    for k in range(layers.start, layers.stop):
        if random.random() < params.layer_prob:
            genes[k] = 1.0 - genes[k]
    noise = list(m.genome.noise)
    if params.weight_sigma > 0 and params.weight_fraction > 0:
        noise.append(Noise(random.randrange(2**31), params.weight_sigma, params.weight_fraction))
    return Member(f"g{gen}-{idx}", Genome(genes, m.genome.seed, noise), gen, "mutant", [m.id])


def crossover(group: list[Member], gen: int, idx: int) -> Member:
    """One child of `group`: continuous genes a random convex combination (Dirichlet(1)), each
    technique bit from a random member, DARE seed and weight noise from the heaviest member."""
    a = [random.gammavariate(1.0, 1.0) for _ in group]
    total = sum(a)
    a = [x / total for x in a]
    n = len(group[0].genome.genes)
    bits = [random.choice(group).genome.genes[k] for k in range(3)]
    rest = [sum(w * m.genome.genes[k] for w, m in zip(a, group, strict=True)) for k in range(3, n)]
    heavy = group[int(np.argmax(a))].genome
    child = Genome([*bits, *rest], heavy.seed, list(heavy.noise))
    return Member(f"g{gen}-{idx}", child, gen, "crossover", [m.id for m in group])


def random_member(num_layers: int, gen: int, idx: int) -> Member:
    n = Genome.length(num_layers)
    genes = [float(random.random() >= 0.5) for _ in range(3)] + [
        random.random() for _ in range(n - 3)
    ]
    return Member(f"g{gen}-{idx}", Genome(genes, random.randrange(2**31)), gen, "reseed")


def diversity(pop: list[Member]) -> float:
    """Mean over pairs of ½·(technique bits that differ / 3) + ½·min(1, 3·mean |gene difference|):
    0 for identical genomes, about 0.75 for uniformly random ones."""
    pairs = list(itertools.combinations(pop, 2))
    if not pairs:
        return 0.0
    total = 0.0
    for x, y in pairs:
        gx, gy = np.asarray(x.genome.genes), np.asarray(y.genome.genes)
        bits = float(np.mean((gx[:3] >= 0.5) != (gy[:3] >= 0.5)))
        cont = float(np.mean(np.abs(gx[3:] - gy[3:])))
        total += 0.5 * bits + 0.5 * min(1.0, 3.0 * cont)
    return total / len(pairs)


def next_generation(
    pop: list[Member], fitness: dict[str, float], champion: Member, params: SearchParams, gen: int
) -> tuple[list[Member], bool]:
    """The population of generation `gen` from the scored one; (members, reseeded)."""
    ranked = sorted(pop, key=lambda m: fitness[m.id], reverse=True)
    elites, rest = ranked[: params.elites], ranked[params.elites :]
    new: list[Member] = []
    for e in elites:
        for _ in range(params.mutants_per_elite):
            new.append(mutate(e, params, gen, len(new)))
    random.shuffle(rest)
    for i in range(0, len(rest) - params.group_size + 1, params.group_size):
        new.append(crossover(rest[i : i + params.group_size], gen, len(new)))
    while len(new) < params.population:  # a config whose arithmetic leaves slots: mutants
        new.append(mutate(elites[len(new) % len(elites)], params, gen, len(new)))
    new = new[: params.population]
    champ_key = champion.genome.key()
    if params.keep_champion and all(m.genome.key() != champ_key for m in new):
        new[-1] = Member(new[-1].id, champion.genome, gen, "champion", [champion.id])
    reseeded = diversity(new) < params.diversity_threshold
    if reseeded:
        keep = params.mutants_per_elite
        num_layers = champion.genome.num_layers
        new = [
            m if (i < keep or m.origin == "champion") else random_member(num_layers, gen, i)
            for i, m in enumerate(new)
        ]
    return new, reseeded


def statistics() -> tools.Statistics:
    """DEAP statistics over a list of fitness values (avg, std, min, max)."""
    stats = tools.Statistics(key=lambda fit: fit)
    stats.register("avg", np.mean)
    stats.register("std", np.std)
    stats.register("min", np.min)
    stats.register("max", np.max)
    return stats
