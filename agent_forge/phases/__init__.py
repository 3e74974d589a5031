"""The table of built phases. A phase of the spec that is not in this table is not built yet.

Each entry maps a canonical phase id (core.phase_names.PHASE_SEQUENCE) to its `Phase` class;
later work adds one line per phase here. Nothing registers itself by import side effect.
"""

from __future__ import annotations

from agent_forge.core.contracts import Phase
from agent_forge.core.named_registry import Registry

PHASES: Registry[type[Phase]] = Registry("phase", {})
