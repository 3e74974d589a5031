"""The one state-dict loop of every merge: key and shape checks, dtypes, tied weights, dispatch.

Per-tensor operators see float32 copies and their result is cast back to parent 0's dtype;
structural operators (frankenmerge, dfs) get the whole state dicts (mergekit's split of
`merge_methods/` from its tensor loop).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor

StateDict = dict[str, Tensor]
_LAYER_KEY = re.compile(r"^model\.layers\.(\d+)\.(.+)$")


@dataclass(frozen=True)
class MergeMethod:
    """A registry entry: the operator and how `merge_state_dicts` must call it."""

    fn: Callable[..., Any]
    structural: bool = False  # takes whole state dicts instead of one tensor per parent
    needs_base: bool = False  # task-vector methods: base = Phase 1's shared initialisation


def key_seed(seed: int, key: str) -> int:
    """A per-tensor seed from a run seed and the tensor's name (CRC-32: stable across processes,
    unlike `hash`), so random merges are the same whatever order the keys come in."""
    return (int(seed) * 1_000_003 + zlib.crc32(key.encode())) % 2**63


def split_layer_key(key: str) -> tuple[int, str] | None:
    """`model.layers.3.mlp.up_proj.weight` -> (3, "mlp.up_proj.weight"); None for non-block keys."""
    m = _LAYER_KEY.match(key)
    return (int(m.group(1)), m.group(2)) if m else None


def count_layers(state_dict: StateDict) -> int:
    """num_hidden_layers of a Cognate-layout state dict (1 + the highest block index, 0 if none)."""
    idx = [s[0] for k in state_dict if (s := split_layer_key(k)) is not None]
    return max(idx) + 1 if idx else 0


def check_compatible(state_dicts: list[StateDict], base: StateDict | None = None) -> None:
    """Same keys and shapes in every parent (and the base); ValueError names the key and shapes."""
    if not state_dicts:
        raise ValueError("merge needs at least one state dict")
    ref = state_dicts[0]
    others = [(f"parent {i}", sd) for i, sd in enumerate(state_dicts[1:], 1)]
    if base is not None:
        others.append(("base", base))
    for name, sd in others:
        if set(sd) != set(ref):
            diff = sorted(set(sd) ^ set(ref))[:5]
            raise ValueError(f"{name} and parent 0 have different keys, e.g. {diff}")
        for key, t in ref.items():
            if sd[key].shape != t.shape:
                raise ValueError(
                    f"shape mismatch at {key!r}: parent 0 has {tuple(t.shape)}, "
                    f"{name} has {tuple(sd[key].shape)}"
                )


def _same_storage(a: Tensor, b: Tensor) -> bool:
    return (
        a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
        and a.storage_offset() == b.storage_offset()
        and a.shape == b.shape
        and a.stride() == b.stride()
    )


def storage_aliases(state_dicts: list[StateDict]) -> dict[str, str]:
    """key -> earlier key it shares storage with in every parent (tied `lm_head.weight`)."""
    first: dict[tuple[int, int], str] = {}
    out: dict[str, str] = {}
    for key, t in state_dicts[0].items():
        tag = (t.untyped_storage().data_ptr(), t.storage_offset())
        prev = first.setdefault(tag, key)
        if prev != key and all(_same_storage(sd[key], sd[prev]) for sd in state_dicts):
            out[key] = prev
    return out


def merge_state_dicts(
    method: str,
    state_dicts: list[StateDict],
    base: StateDict | None = None,
    **params: Any,
) -> StateDict:
    """Merge `state_dicts` with the registered `method`; `params` are the operator's config.

    A `seed` param is offset by a hash of the key's name (`key_seed`), so each tensor gets its own
    random stream and the result does not depend on the order of the state dict's keys.
    Tied weights stay tied: a key aliasing an earlier one in every parent reuses its result.
    dfs may change the depth: read it back with `count_layers(result)`.
    """
    # The table lives in __init__, which imports this module: look it up at call time.
    from agent_forge.merging import METHODS

    spec: MergeMethod = METHODS.get(method)
    if spec.needs_base and base is None:
        raise ValueError(f"merge method {method!r} needs a base state dict (the shared init)")
    check_compatible(state_dicts, base if spec.needs_base else None)
    if spec.structural:
        out = spec.fn(state_dicts, **params)
        return out[0] if isinstance(out, tuple) else out
    seed = params.pop("seed", None)
    aliases = storage_aliases(state_dicts)
    merged: StateDict = {}
    for key, ref in state_dicts[0].items():
        if key in aliases:
            merged[key] = merged[aliases[key]]
        elif not ref.is_floating_point():  # integer buffers are not interpolated
            merged[key] = ref.clone()
        else:
            tensors = [sd[key].float() for sd in state_dicts]
            b = base[key].float() if spec.needs_base and base is not None else None
            extra = {} if seed is None else {"seed": key_seed(int(seed), key)}
            merged[key] = spec.fn(tensors, b, **params, **extra).to(ref.dtype)
    return merged
