"""`phases.bitnet:` — Phase 4's settings (SPEC_NOTES Phase 4; docs/phases/bitnet.md).

Defaults are the `tiny` profile's (the phase runs on a 2-core CPU in a few minutes);
consumer-gpu.yaml sets the spec's 512 calibration samples and a longer fine-tuning. Every number of
the phase is here; the gate's thresholds are the quality gate's, `eval.gates` stage `bitnet`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BitNetConfig(_Strict):
    """Phase 4: BitNet b1.58 ternary weights, 8-bit activations, QAT with the STE when needed."""

    per_row: bool = Field(
        False, description="Absmean scale per output row instead of one per weight tensor."
    )
    act_bits: int = Field(8, ge=2, le=8, description="Per-token absmax activation bits.")
    keep: list[str] = Field(
        default_factory=lambda: ["embed_tokens", "lm_head", "halt_head", "thought_head"],
        description="Linear layers whose qualified name contains one of these stay in higher "
        "precision (embeddings, LM head, ACT's halt_head, Quiet-STaR's thought_head).",
    )
    kept_dtype: Literal["fp16", "fp32", "int8"] = Field(
        "fp16",
        description="Storage of kept tensors in the packed file; int8: kept 2-D tensors "
        "(embeddings, heads) with a per-row absmax scale, 1-D ones in fp16.",
    )
    calibration_samples: int = Field(
        128, ge=1, le=100_000, description="Windows of the selection split (never the test one)."
    )
    calibration_seq_len: int = Field(128, ge=8, le=8192, description="Tokens per window.")
    qat: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Quantisation-aware fine-tuning: auto runs it when the calibration loss "
        "rises by more than qat_trigger_loss_increase.",
    )
    qat_trigger_loss_increase: float = Field(
        0.03, ge=0, le=10, description="Relative loss increase (0.03 = +3%) that triggers QAT."
    )
    qat_steps: int = Field(360, ge=1, le=1_000_000, description="Fine-tuning steps.")
    qat_strength_warmup_steps: int = Field(
        120, ge=0, description="Quantisation strength (s + 1) / N at step s, then 1."
    )
    qat_lr: float = Field(1e-3, gt=0, le=1, description="Peak learning rate (Muon + AdamW).")
    qat_lr_warmup_steps: int = Field(10, ge=0, description="Learning-rate warm-up steps.")
    qat_batch_size: int = Field(8, ge=1, le=4096, description="Windows per fine-tuning step.")
    qat_seq_len: int = Field(128, ge=8, le=8192, description="Tokens per fine-tuning window.")
    qat_eval_every: int = Field(60, ge=1, description="Held-out (selection) loss every N steps.")
    qat_checkpoint_every: int = Field(120, ge=1, description="Resumable checkpoint every N steps.")
    seed: int = Field(0, ge=0, description="Data order of calibration and fine-tuning.")
    levels: list[int] = Field(
        default_factory=lambda: [1], min_length=1, description="Test task levels scored."
    )
    per_level: int = Field(40, ge=1, description="Test task items per level.")
    loss_items: int | None = Field(
        200, ge=1, description="Test held-out loss documents (None: all)."
    )
    max_new_tokens: int = Field(12, ge=1, description="Greedy tokens generated per test task.")
    latency_seq_len: int = Field(128, ge=1, le=8192, description="Tokens of the latency probe.")
    latency_repeats: int = Field(5, ge=1, le=1000, description="Timed forwards (median kept).")
    gguf: bool = Field(True, description="Also export GGUF with llama.cpp's ternary types.")
    gguf_type: Literal["TQ1_0", "TQ2_0"] = Field(
        "TQ1_0", description="TQ1_0: 1.69 bits per weight; TQ2_0: 2.06, faster to decode."
    )

    @field_validator("levels")
    @classmethod
    def _levels(cls, v: list[int]) -> list[int]:
        if bad := [x for x in v if not 1 <= x <= 10]:
            raise ValueError(f"levels {bad} must be within 1..10")
        return v

    @model_validator(mode="after")
    def _fits(self) -> BitNetConfig:
        if self.qat_strength_warmup_steps > self.qat_steps:
            raise ValueError(
                f"qat_strength_warmup_steps ({self.qat_strength_warmup_steps}) must be <= "
                f"qat_steps ({self.qat_steps})"
            )
        if self.qat_lr_warmup_steps > self.qat_steps:
            raise ValueError(
                f"qat_lr_warmup_steps ({self.qat_lr_warmup_steps}) must be <= qat_steps "
                f"({self.qat_steps})"
            )
        return self
