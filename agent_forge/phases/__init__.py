"""The table of built phases. A phase of the spec that is not in this table is not built yet.

Each entry maps a canonical phase id (core.phase_names.PHASE_SEQUENCE) to "module:Class" of its
`Phase`; the module is imported when the phase is looked up, so `agent-forge status` and
`phases` list the table without importing torch. Later work adds one line per phase here.
Nothing registers itself by import side effect.
"""

from __future__ import annotations

import importlib

from agent_forge.core.contracts import Phase
from agent_forge.core.named_registry import Registry

_BUILT = {
    "cognate": "agent_forge.phases.cognate:CognatePhase",
    "evomerge": "agent_forge.phases.evomerge:EvoMergePhase",
    "quietstar": "agent_forge.phases.quietstar:QuietStarPhase",
    "bitnet": "agent_forge.phases.bitnet:BitNetPhase",
}


class _LazyPhaseTable(Registry[type[Phase]]):
    """A Registry whose items are imported from "module:Class" on first `get`."""

    def get(self, name: str) -> type[Phase]:
        item = super().get(name)
        if isinstance(item, str):
            module, cls = item.split(":")
            item = getattr(importlib.import_module(module), cls)
            self._items[name] = item
        return item


PHASES: Registry[type[Phase]] = _LazyPhaseTable("phase", dict(_BUILT))  # type: ignore[arg-type]
