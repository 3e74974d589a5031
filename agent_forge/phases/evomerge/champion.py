"""The champion's model: built in memory from its genome (`build_model`), and checkpointed under
search/elites/ after every generation (`save_elite`)."""

from __future__ import annotations

import shutil
from typing import Any

from agent_forge.core.storage import save_model_dir
from agent_forge.merging.evolution import Member
from agent_forge.phases.evomerge.scoring import candidate_state
from agent_forge.phases.evomerge.state import SearchState


def save_elite(state: SearchState, shared: dict[str, Any], max_models_on_disk: int) -> None:
    """The champion's checkpoint under search/elites/ (kept: max_models_on_disk - 1, the
    final registered champion being the last)."""
    champ = state.champion
    folder = state.dir / "elites" / champ.id
    if not folder.exists():
        model = build_model(champ, shared)
        save_model_dir(
            folder,
            lambda d: (model.save_pretrained(d), shared["tokenizer"].save_pretrained(d)),
        )
    kept = sorted((state.dir / "elites").iterdir(), key=lambda p: p.stat().st_mtime)
    for old in kept[: max(0, len(kept) - (max_models_on_disk - 1))]:
        if old.name != champ.id:
            shutil.rmtree(old, ignore_errors=True)


def build_model(m: Member, shared: dict[str, Any]) -> Any:
    import copy

    from transformers import AutoModelForCausalLM

    from agent_forge.runtime.model_holder import load_weights

    sd = candidate_state({"kind": "genome", "genome": m.genome.to_json()}, shared)
    cfg = copy.deepcopy(shared["model_config"])
    cfg.num_hidden_layers = depth(sd)
    model = AutoModelForCausalLM.from_config(cfg)
    load_weights(model, sd)  # a tied head may be stored once
    return model.eval()


def depth(sd: dict[str, Any]) -> int:
    from agent_forge.merging import count_layers

    return count_layers(sd)
