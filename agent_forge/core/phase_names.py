"""The eight phases: canonical ids in pipeline order, titles, and the spec's older names."""

from __future__ import annotations

from agent_forge.errors import NotFoundError

PHASE_SEQUENCE: tuple[str, ...] = (
    "cognate",
    "evomerge",
    "quietstar",
    "bitnet",
    "curriculum",
    "baking",
    "experts",
    "compression",
)

PHASE_TITLES: dict[str, str] = {
    "cognate": "Phase 1 Cognate: three specialised models from one initialisation",
    "evomerge": "Phase 2 EvoMerge: evolutionary model merging",
    "quietstar": "Phase 3 Quiet-STaR: thinking before speaking",
    "bitnet": "Phase 4 BitNet b1.58: ternary weights",
    "curriculum": "Phase 5 Curriculum: 10-level adaptive training",
    "baking": "Phase 6 Baking: tools and persona",
    "experts": "Phase 7 Experts: SVF experts and edge optimisation",
    "compression": "Phase 8 Compression: SeedLM, VPTQ, entropy coding",
}

# The spec's older names, accepted from users and mapped to the canonical ids.
PHASE_ALIASES: dict[str, str] = {
    "forge": "curriculum",
    "edge": "experts",
    "final_compression": "compression",
    "quiet_star": "quietstar",
    "evo_merge": "evomerge",
}


def canonical_phase(name: str) -> str:
    """`name` or an alias of it -> the canonical id; NotFoundError listing the valid ones."""
    key = name.strip().lower().replace("-", "_")
    key = PHASE_ALIASES.get(key, key)
    if key not in PHASE_SEQUENCE:
        raise NotFoundError(
            f"unknown phase {name!r}; phases are: {', '.join(PHASE_SEQUENCE)} "
            f"(older names accepted: {', '.join(PHASE_ALIASES)})"
        )
    return key


def previous_phase(name: str) -> str | None:
    i = PHASE_SEQUENCE.index(name)
    return PHASE_SEQUENCE[i - 1] if i > 0 else None
