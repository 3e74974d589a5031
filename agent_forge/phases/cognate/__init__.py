"""Phase 1 Cognate: one shared initialisation, three specialised models (docs/phases/cognate.md)."""

from agent_forge.phases.cognate.phase import CognatePhase

__all__ = ["CognatePhase"]
