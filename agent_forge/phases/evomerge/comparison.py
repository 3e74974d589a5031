"""The final comparison on the test split: the champion beside its three parents and, with
report_baselines, untuned linear and TIES merges; scored once, kept in the search state."""

from __future__ import annotations

from typing import Any

from agent_forge.merging.genome import BASE_REF, PARENT_REFS
from agent_forge.merging.recipe import Recipe, to_yaml_documents
from agent_forge.phases.evomerge.search import Score
from agent_forge.phases.evomerge.state import SearchState


def score_test_split(state: SearchState, report_baselines: bool, score: Score) -> dict[str, Any]:
    if state.test_scores is not None:
        return state.test_scores
    champ = state.champion
    cands = [{"id": "champion", "kind": "genome", "genome": champ.genome.to_json()}]
    cands += [{"id": f"parent-{i}", "kind": "parent", "index": i} for i in range(3)]
    if report_baselines:
        cands += [{"id": k, "kind": "recipe", "yaml": y} for k, y in baselines().items()]
    for cand in cands:
        cand["split"] = "test"
    outs = score(cands, "test")
    state.test_scores = {cand["id"]: out for cand, out in zip(cands, outs, strict=True)}
    state.save()
    return state.test_scores


def baselines() -> dict[str, str]:
    """Untuned merges for the report: equal-weight linear, and TIES (keep 20%, λ 1)."""
    lin = Recipe("linear", list(PARENT_REFS), parameters={"normalize": True})
    per = [{"weight": 1.0, "density": 0.2} for _ in PARENT_REFS]
    ties = Recipe("ties", list(PARENT_REFS), BASE_REF, per, {"lambda": 1.0})
    return {"linear_untuned": to_yaml_documents([lin]), "ties_untuned": to_yaml_documents([ties])}
