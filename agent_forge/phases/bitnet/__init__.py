"""Phase 4 BitNet b1.58: calibration, QAT with the STE (Ray Train), packing, GGUF, the gate."""

from agent_forge.phases.bitnet.phase import BitNetPhase

__all__ = ["BitNetPhase"]
