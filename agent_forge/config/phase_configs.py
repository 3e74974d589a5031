"""One config section per phase. Phases not built yet have empty sections (filled by later work)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _PhaseSection(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CognateConfig(_PhaseSection):
    """Phase 1 (not built yet)."""


class EvoMergeConfig(_PhaseSection):
    """Phase 2 (not built yet)."""


class QuietStarConfig(_PhaseSection):
    """Phase 3 (not built yet)."""


class BitNetConfig(_PhaseSection):
    """Phase 4 (not built yet)."""


class CurriculumConfig(_PhaseSection):
    """Phase 5 (not built yet)."""


class BakingConfig(_PhaseSection):
    """Phase 6 (not built yet)."""


class ExpertsConfig(_PhaseSection):
    """Phase 7 (not built yet)."""


class CompressionConfig(_PhaseSection):
    """Phase 8 (not built yet)."""


class PhasesConfig(_PhaseSection):
    cognate: CognateConfig = Field(default_factory=CognateConfig)
    evomerge: EvoMergeConfig = Field(default_factory=EvoMergeConfig)
    quietstar: QuietStarConfig = Field(default_factory=QuietStarConfig)
    bitnet: BitNetConfig = Field(default_factory=BitNetConfig)
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    baking: BakingConfig = Field(default_factory=BakingConfig)
    experts: ExpertsConfig = Field(default_factory=ExpertsConfig)
    compression: CompressionConfig = Field(default_factory=CompressionConfig)
