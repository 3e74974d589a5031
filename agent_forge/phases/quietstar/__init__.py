"""Phase 3 Quiet-STaR (docs/phases/quietstar.md)."""

from agent_forge.phases.quietstar.phase import QuietStarPhase

__all__ = ["QuietStarPhase"]
