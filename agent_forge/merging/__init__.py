"""Phase 2 merge operators: pure functions on tensors / state dicts, and their registry."""

from agent_forge.core.named_registry import Registry
from agent_forge.merging.apply import (
    MergeMethod,
    check_compatible,
    count_layers,
    merge_state_dicts,
    split_layer_key,
)
from agent_forge.merging.dare import dare
from agent_forge.merging.dfs import dfs, dfs_layer_path
from agent_forge.merging.frankenmerge import frankenmerge
from agent_forge.merging.linear import linear
from agent_forge.merging.slerp import slerp
from agent_forge.merging.task_arithmetic import task_arithmetic
from agent_forge.merging.ties import ties

METHODS: Registry[MergeMethod] = Registry(
    "merge method",
    {
        "linear": MergeMethod(linear),
        "slerp": MergeMethod(slerp),
        "task_arithmetic": MergeMethod(task_arithmetic, needs_base=True),
        "ties": MergeMethod(ties, needs_base=True),
        "dare": MergeMethod(dare, needs_base=True),
        "frankenmerge": MergeMethod(frankenmerge, structural=True),
        "dfs": MergeMethod(dfs, structural=True),
    },
)

__all__ = [
    "METHODS",
    "MergeMethod",
    "check_compatible",
    "count_layers",
    "dare",
    "dfs",
    "dfs_layer_path",
    "frankenmerge",
    "linear",
    "merge_state_dicts",
    "slerp",
    "split_layer_key",
    "task_arithmetic",
    "ties",
]
