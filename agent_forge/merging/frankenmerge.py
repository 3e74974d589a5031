"""Frankenmerge: whole transformer blocks from different parents (Goddard et al. 2024, mergekit
"passthrough"; the layer-stacking idea behind SOLAR's depth up-scaling, Kim et al. 2023)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from agent_forge.merging.apply import count_layers, split_layer_key


def frankenmerge(
    state_dicts: list[dict[str, Tensor]],
    *,
    layer_parents: Sequence[int],
    rest_parent: int = 0,
) -> dict[str, Tensor]:
    """Block i (every `model.layers.{i}.*` key) from parent `layer_parents[i]`; every other tensor
    (embedding, final norm, halting head, memory, tied LM head) from parent `rest_parent`."""
    n, depth = len(state_dicts), count_layers(state_dicts[0])
    if len(layer_parents) != depth:
        raise ValueError(f"layer_parents has {len(layer_parents)} entries for {depth} layers")
    for p in [*layer_parents, rest_parent]:
        if not 0 <= p < n:
            raise ValueError(f"parent index {p} out of range for {n} parents")
    out: dict[str, Tensor] = {}
    for key in state_dicts[0]:
        loc = split_layer_key(key)
        src = rest_parent if loc is None else layer_parents[loc[0]]
        out[key] = state_dicts[src][key].clone()
    return out
