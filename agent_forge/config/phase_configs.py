"""One config section per phase. Phases not built yet have empty sections (filled by later work)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agent_forge.config.bitnet_config import BitNetConfig
from agent_forge.config.evomerge_config import EvoMergeConfig
from agent_forge.config.quietstar_config import QuietStarConfig


class _PhaseSection(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SpecializationConfig(_PhaseSection):
    """One of the three Phase 1 models: its seed (data order, dropout), ACT threshold and the
    task domains mixed into its training text (the corpus is always in)."""

    name: Literal["reasoning", "memory_integration", "adaptive_computation"]
    seed: int = Field(ge=0)
    act_threshold: float = Field(gt=0, le=1)
    domains: list[str] = Field(min_length=1)


def _default_specializations() -> list[SpecializationConfig]:
    all_domains = ["arithmetic", "word_problems", "sequences", "logic", "strings", "recall"]
    return [  # SPEC_NOTES Phase 1: seeds 42 / 1337 / 2023, ACT thresholds 0.95 / 0.90 / 0.99
        SpecializationConfig(
            name="reasoning",
            seed=42,
            act_threshold=0.95,
            domains=["arithmetic", "word_problems", "logic", "sequences"],
        ),
        SpecializationConfig(
            name="memory_integration",
            seed=1337,
            act_threshold=0.90,
            domains=["recall", "strings", "arithmetic", "logic", "sequences"],
        ),
        SpecializationConfig(
            name="adaptive_computation", seed=2023, act_threshold=0.99, domains=all_domains
        ),
    ]


class CognatePhaseConfig(_PhaseSection):
    """Phase 1: one shared initialisation, then three specialised models (Ray Train jobs).
    Defaults are the `tiny` profile's (measured on a 2-core CPU); consumer-gpu.yaml overrides."""

    model_size: Literal["tiny", "consumer-gpu"] = Field("tiny", description="Model preset.")
    act_max_steps: int | None = Field(
        2, ge=1, le=8, description="ACT steps over the block stack (None: the preset's)."
    )
    vocab_size: int = Field(2048, ge=274, le=65536, description="Byte-level BPE vocabulary.")
    init_seed: int = Field(0, ge=0, description="Seed of the shared initialisation.")
    data_seed: int = Field(1234, ge=0, description="Seed of the generated dataset.")
    examples_per_level: int = Field(120, ge=1, description="Per domain and level, before splits.")
    corpus_bytes: int = Field(100_000, ge=0, description="Generated explanatory text.")
    level_copies: list[int] = Field(
        default_factory=lambda: [2, 1],
        min_length=1,
        max_length=10,
        description="Copies of each level's training examples in the mix: entry i is level i+1; "
        "levels past the list are left to the curriculum phase.",
    )
    steps: int = Field(400, ge=1)
    batch_size: int = Field(8, ge=1)
    seq_len: int = Field(128, ge=8)
    eval_every: int = Field(50, ge=1)
    checkpoint_every: int = Field(50, ge=1)
    lr: float = Field(1e-2, gt=0, le=1, description="Peak lr of Muon and AdamW.")
    warmup_steps: int = Field(20, ge=0)
    grokfast_alpha: float = Field(0.98, ge=0, lt=1)
    grokfast_lambda: float = Field(0.3, ge=0)
    eval_examples_per_level: int = Field(
        60, ge=1, description="Test-split examples scored per level, spread over the domains."
    )
    max_new_tokens: int = Field(12, ge=1)
    min_val_loss_drop: float = Field(
        0.5, ge=0, le=1, description="Gate: held-out loss must fall by at least this fraction."
    )
    max_val_loss: float | None = Field(
        3.0, gt=0, description="Gate: held-out cross-entropy (nats) must end below this."
    )
    gate_level1_above_chance: bool = Field(
        True,
        description="Gate: each model's level-1 accuracy beats the majority-answer rate by its "
        "95% CI (the Wilson lower bound is above it).",
    )
    specializations: list[SpecializationConfig] = Field(
        default_factory=_default_specializations, min_length=1
    )
    shared_pretrain_steps: int = Field(
        0,
        ge=0,
        description="Steps of training the shared init gets on all specialisations' domains + "
        "corpus before the three runs (which then train steps - this many each); 0: none.",
    )
    specialize_lr: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Peak lr of the three specialised runs when shared_pretrain_steps > 0 "
        "(fine-tuning from the shared init; the pretraining keeps lr); None: lr.",
    )

    @model_validator(mode="after")
    def _pretrain_within_steps(self) -> CognatePhaseConfig:
        if self.shared_pretrain_steps >= self.steps:
            raise ValueError(
                f"shared_pretrain_steps ({self.shared_pretrain_steps}) must be < steps "
                f"({self.steps})"
            )
        return self

    @field_validator("level_copies")
    @classmethod
    def _copies_positive(cls, v: list[int]) -> list[int]:
        if any(c < 1 for c in v):
            raise ValueError("every level in level_copies needs at least 1 copy")
        return v

    @model_validator(mode="after")
    def _warmup_within_steps(self) -> CognatePhaseConfig:
        if self.warmup_steps > self.steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) exceeds steps ({self.steps})")
        return self

    @property
    def max_level(self) -> int:
        return len(self.level_copies)


class CurriculumConfig(_PhaseSection):
    """Phase 5 (not built yet)."""


class BakingConfig(_PhaseSection):
    """Phase 6 (not built yet)."""


class ExpertsConfig(_PhaseSection):
    """Phase 7 (not built yet)."""


class CompressionConfig(_PhaseSection):
    """Phase 8 (not built yet)."""


class PhasesConfig(_PhaseSection):
    cognate: CognatePhaseConfig = Field(default_factory=CognatePhaseConfig)
    evomerge: EvoMergeConfig = Field(default_factory=EvoMergeConfig)
    quietstar: QuietStarConfig = Field(default_factory=QuietStarConfig)
    bitnet: BitNetConfig = Field(default_factory=BitNetConfig)
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    baking: BakingConfig = Field(default_factory=BakingConfig)
    experts: ExpertsConfig = Field(default_factory=ExpertsConfig)
    compression: CompressionConfig = Field(default_factory=CompressionConfig)
