"""Phase 2 EvoMerge: evolve merge recipes of Phase 1's three models (docs/phases/evomerge.md)."""

from agent_forge.phases.evomerge.phase import EvoMergePhase

__all__ = ["EvoMergePhase"]
