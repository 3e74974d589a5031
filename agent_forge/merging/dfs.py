"""DFS merge: data-flow-space merging from "Evolutionary Optimization of Model Merging Recipes"
(Akiba et al. 2024, Sakana AI): a new layer path through the blocks of all parents."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from agent_forge.merging.apply import count_layers, split_layer_key

# The sublayers whose output joins the residual stream; a step's scale multiplies these.
RESIDUAL_OUT = ("self_attn.o_proj.weight", "mlp.down_proj.weight")


def dfs_layer_path(num_parents: int, num_layers: int, repeats: int = 1) -> list[tuple[int, int]]:
    """The paper's path: all layers of parent 0, then parent 1, ..., the whole sequence
    `repeats`x."""
    once = [(p, i) for p in range(num_parents) for i in range(num_layers)]
    return once * repeats


def dfs(
    state_dicts: list[dict[str, Tensor]],
    *,
    path: Sequence[Sequence[int]],
    indicators: Sequence[bool] | None = None,
    scales: Sequence[float] | None = None,
    rest_parent: int = 0,
) -> tuple[dict[str, Tensor], int]:
    """Stack the used steps (parent, layer) of `path` as blocks 0..J-1; return (state dict, J).

    The paper scales each step's input hidden state by W. Cognate blocks are pre-norm (RMSNorm
    removes any input scale), so a step's scale s multiplies its residual updates instead: the
    o_proj and down_proj weights, x + s·attn(·), then + s·mlp(·). s = 1 leaves the block as is.
    Non-block tensors come from `rest_parent`.
    """
    n, depth = len(state_dicts), count_layers(state_dicts[0])
    on = [True] * len(path) if indicators is None else [bool(x) for x in indicators]
    sc = [1.0] * len(path) if scales is None else [float(s) for s in scales]
    if len(on) != len(path) or len(sc) != len(path):
        raise ValueError(f"path has {len(path)} steps, indicators {len(on)}, scales {len(sc)}")
    if not 0 <= rest_parent < n:
        raise ValueError(f"rest_parent {rest_parent} out of range for {n} parents")
    for p, i in path:
        if not (0 <= p < n and 0 <= i < depth):
            raise ValueError(f"path step ({p}, {i}) outside {n} parents x {depth} layers")
    steps = [(tuple(st), s) for st, used, s in zip(path, on, sc, strict=True) if used]
    if not steps:
        raise ValueError("dfs indicators switch off every step; the model would have no layers")
    out: dict[str, Tensor] = {}
    for key, t in state_dicts[rest_parent].items():
        if split_layer_key(key) is None:
            out[key] = t.clone()
    for j, ((p, i), s) in enumerate(steps):
        for key, t in state_dicts[p].items():
            loc = split_layer_key(key)
            if loc is not None and loc[0] == i:
                scaled = s != 1.0 and loc[1] in RESIDUAL_OUT
                out[f"model.layers.{j}.{loc[1]}"] = t * s if scaled else t.clone()
    return out, len(steps)
