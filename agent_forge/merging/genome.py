"""An EvoMerge candidate: a three-stage merge recipe encoded as a flat vector of genes in [0, 1].

Stages (SPEC_NOTES Phase 2, the 3-bit code of generation 0):
  1. interpolation  M1 = linear(P1, P2, P3; w)  |  slerp chain (P1 -> P2 -> P3, the same shares w)
  2. task vectors   M2 = dare(P; base, drop 1 - d, weights λ·v)  |  ties(P; base, keep d, v, λ)
  3. structure      out = frankenmerge(M1, M2; block i from M2 where g_i >= 0.5; the rest
                              from block 0's source)
                        | dfs(M1, M2; the paper's path M1 blocks then M2 blocks, step j on where
                              g_j >= 0.5, scaled by s_j)
then optional weight-noise mutations (seeded Gaussian on a fraction of entries). The base of the
task-vector stage is Phase 1's shared initialisation. Everything is deterministic for a genome.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from torch import Tensor

from agent_forge.merging.apply import count_layers
from agent_forge.merging.dfs import dfs_layer_path
from agent_forge.merging.multistage import apply_recipes
from agent_forge.merging.recipe import Recipe

StateDict = dict[str, Tensor]
INTERP = ("linear", "slerp")
TASK = ("dare", "ties")
STRUCT = ("frankenmerge", "dfs")
N_PARENTS = 3
PARENT_REFS = ("parent_1", "parent_2", "parent_3")
BASE_REF = "shared_init"
LAMBDA_MAX = 2.0  # gene 1.0 = λ 2, gene 0.5 = λ 1
SCALE_RANGE = (0.5, 1.5)  # dfs step scales: gene 0.5 = 1.0


@dataclass(frozen=True)
class Noise:
    """One weight-noise mutation: N(0, sigma²) added to a `fraction` of every float tensor."""

    seed: int
    sigma: float
    fraction: float


@dataclass
class Genome:
    """Genes (all in [0, 1]) with fixed positions: 3 stage bits, 3 interpolation shares, 3
    task-vector shares, density, λ, then 2L layer genes and 2L dfs scales (L = parent depth)."""

    genes: list[float]
    seed: int = 0  # DARE's masks
    noise: list[Noise] = field(default_factory=list)

    def __post_init__(self) -> None:
        # 6 decimals, held as saved: a resumed search continues from exactly these genes
        self.genes = [round(float(g), 6) for g in self.genes]

    @staticmethod
    def layout(num_layers: int) -> dict[str, slice]:
        n2 = 2 * num_layers
        return {
            "bits": slice(0, 3),
            "interp_w": slice(3, 6),
            "task_w": slice(6, 9),
            "density": slice(9, 10),
            "lam": slice(10, 11),
            "layers": slice(11, 11 + n2),
            "scales": slice(11 + n2, 11 + 2 * n2),
        }

    @staticmethod
    def length(num_layers: int) -> int:
        return 11 + 4 * num_layers

    @property
    def num_layers(self) -> int:
        return (len(self.genes) - 11) // 4

    def part(self, name: str) -> list[float]:
        return self.genes[self.layout(self.num_layers)[name]]

    @property
    def techniques(self) -> tuple[str, str, str]:
        b = [g >= 0.5 for g in self.part("bits")]
        return INTERP[b[0]], TASK[b[1]], STRUCT[b[2]]

    def to_json(self) -> dict:
        return {
            "genes": list(self.genes),
            "seed": self.seed,
            "noise": [[n.seed, n.sigma, n.fraction] for n in self.noise],
        }

    @classmethod
    def from_json(cls, data: dict) -> Genome:
        return cls(
            [float(g) for g in data["genes"]],
            int(data["seed"]),
            [Noise(int(s), float(sg), float(f)) for s, sg, f in data["noise"]],
        )

    def key(self) -> str:
        """A stable hash of what builds the candidate (genes rounded to 1e-6)."""
        blob = json.dumps(self.to_json(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def default_genome(
    code: int, num_layers: int, seed: int = 0, ties_density: float = 0.2, dare_drop: float = 0.9
) -> Genome:
    """Generation 0's member `code` (0..7, bits interp/task/struct): equal shares, λ 1, the
    spec's densities, frankenmerge alternating M1/M2 blocks, dfs with every path step on."""
    bits = [float((code >> k) & 1) for k in (2, 1, 0)]
    ties = bits[1] >= 0.5
    dfs = bits[2] >= 0.5
    layers = [1.0] * (2 * num_layers) if dfs else [float(i % 2) for i in range(2 * num_layers)]
    genes = [
        *bits,
        1 / 3,
        1 / 3,
        1 / 3,
        1 / 3,
        1 / 3,
        1 / 3,
        ties_density if ties else 1.0 - dare_drop,
        0.5,
        *layers,
        *[0.5] * (2 * num_layers),
    ]
    return Genome(genes, seed=seed)


def _shares(genes: Sequence[float]) -> list[float]:
    total = sum(genes)
    return [1.0 / len(genes)] * len(genes) if total <= 0 else [g / total for g in genes]


def genome_recipes(
    g: Genome, parents: Sequence[str] = PARENT_REFS, base: str = BASE_REF
) -> list[Recipe]:
    """The genome as mergekit-mega documents over the references `parents` and `base`: the
    interpolation ("interp"), the task-vector merge ("task"), then the structural merge of the
    two, which carries the weight noise. `build_candidate` applies exactly these."""
    interp, task, struct = g.techniques
    w = _shares(g.part("interp_w"))
    v = _shares(g.part("task_w"))
    density = min(1.0, max(0.01, g.part("density")[0]))
    lam = LAMBDA_MAX * g.part("lam")[0]
    p1, p2, p3 = parents
    docs: list[Recipe] = []
    if interp == "linear":
        per = [{"weight": x} for x in w]
        docs.append(Recipe("linear", [p1, p2, p3], None, per, {"normalize": True}, name="interp"))
    else:  # slerp chain: P1 -> P2 at w2/(w1+w2), then -> P3 at w3
        t1 = w[1] / (w[0] + w[1]) if w[0] + w[1] > 0 else 0.5
        docs.append(Recipe("slerp", [p1, p2], parameters={"t": t1}, name="interp_a"))
        docs.append(Recipe("slerp", ["interp_a", p3], parameters={"t": w[2]}, name="interp"))
    if task == "ties":
        per = [{"weight": x, "density": density} for x in v]
        docs.append(Recipe("ties", [p1, p2, p3], base, per, {"lambda": lam}, name="task"))
    else:  # dare's weights carry λ (task arithmetic's scale)
        per = [{"weight": lam * x, "density": density} for x in v]
        ext = {"seed": g.seed}
        docs.append(Recipe("dare_linear", [p1, p2, p3], base, per, extensions=ext, name="task"))
    on = [x >= 0.5 for x in g.part("layers")]
    noise = {"noise": [[n.seed, n.sigma, n.fraction] for n in g.noise]} if g.noise else {}
    L = g.num_layers
    if struct == "frankenmerge":  # slices list models in order of use: non-block tensors
        src = ["task" if b else "interp" for b in on[:L]]  # come from block 0's source
        order = list(dict.fromkeys(src))
        docs.append(
            Recipe(
                "passthrough", order, layer_parents=[order.index(x) for x in src], extensions=noise
            )
        )
    else:
        lo, hi = SCALE_RANGE
        ext = {
            "path": [list(s) for s in dfs_layer_path(2, L)],
            "indicators": on if any(on) else [True, *on[1:]],
            "scales": [lo + (hi - lo) * x for x in g.part("scales")],
            **noise,
        }
        docs.append(Recipe("dfs", ["interp", "task"], extensions=ext))
    return docs


def build_candidate(g: Genome, parents: list[StateDict], base: StateDict) -> tuple[StateDict, int]:
    """The candidate's state dict (the genome's recipes applied in memory) and its depth."""
    if len(parents) != N_PARENTS:
        raise ValueError(f"EvoMerge merges exactly {N_PARENTS} models, got {len(parents)}")
    if count_layers(parents[0]) != g.num_layers:
        raise ValueError(
            f"genome is for {g.num_layers} layers, parents have {count_layers(parents[0])}"
        )
    models = dict(zip(PARENT_REFS, parents, strict=True)) | {BASE_REF: base}
    out = apply_recipes(genome_recipes(g), models)
    return out, count_layers(out)
