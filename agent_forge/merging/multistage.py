"""Apply a list of recipes in order (mergekit-mega): each named result is a model the later
documents may use; the last document's result is the merge. Weight noise listed under the
last document's `agent_forge: {noise: [[seed, sigma, fraction], ...]}` is added at the end."""

from __future__ import annotations

from torch import Tensor

from agent_forge.merging.apply import key_seed, merge_state_dicts, storage_aliases
from agent_forge.merging.recipe import Recipe

StateDict = dict[str, Tensor]


def retie(sd: StateDict, reference: StateDict) -> StateDict:
    """Keys that share storage in `reference` (the tied LM head) share it again in `sd`:
    structural merges copy every key on its own."""
    for key, prev in storage_aliases([reference]).items():
        if key in sd and prev in sd and sd[key].shape == sd[prev].shape:
            sd[key] = sd[prev]
    return sd


def add_noise(sd: StateDict, seed: int, sigma: float, fraction: float) -> StateDict:
    """A copy of `sd` with N(0, sigma²) added to a seeded random `fraction` of each float
    tensor's entries. Each tensor's draws are seeded by its name (`key_seed`), so the result does
    not depend on key order; tensors sharing storage (a tied head) are perturbed once, seeded by
    the first of their names in sorted order, and stay tied."""
    import torch

    groups: dict[tuple[int, int], list[str]] = {}
    for key, t in sd.items():
        groups.setdefault((t.untyped_storage().data_ptr(), t.storage_offset()), []).append(key)
    out: StateDict = {}
    for keys in groups.values():
        t = sd[keys[0]]
        if t.is_floating_point():
            gen = torch.Generator().manual_seed(key_seed(seed, min(keys)))
            mask = torch.rand(t.shape, generator=gen) < fraction
            step = torch.randn(t.shape, generator=gen) * sigma
            t = (t.float() + step * mask).to(t.dtype)
        for key in keys:
            out[key] = t
    return {key: out[key] for key in sd}


def references(recipes: list[Recipe]) -> list[str]:
    """The model references the recipes need from outside (not produced by an earlier one)."""
    named: set[str] = set()
    needed: list[str] = []
    for r in recipes:
        for ref in [*r.models, *([r.base_model] if r.base_model else [])]:
            if ref not in named and ref not in needed:
                needed.append(ref)
        if r.name:
            named.add(r.name)
    return needed


def apply_recipes(recipes: list[Recipe], models: dict[str, StateDict]) -> StateDict:
    """The last recipe's result; `models` maps every outside reference to its state dict."""
    pool = dict(models)
    missing = [ref for ref in references(recipes) if ref not in pool]
    if missing:
        raise KeyError(f"no state dict for model reference(s) {missing}")
    out: StateDict = {}
    for r in recipes:
        method, kwargs = r.merge_kwargs()
        inputs = [pool[m] for m in r.models]
        base = pool[r.base_model] if r.base_model else None
        out = retie(merge_state_dicts(method, inputs, base=base, **kwargs), inputs[0])
        if r.name:
            pool[r.name] = out
    for seed, sigma, fraction in recipes[-1].extensions.get("noise", []):
        out = add_noise(out, seed, sigma, fraction)
    return out
