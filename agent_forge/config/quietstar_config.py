"""`phases.quietstar:` — Phase 3's settings (docs/phases/quietstar.md; SPEC_NOTES Phase 3).

Defaults are the `tiny` profile's (a 2-core CPU in a few minutes); consumer-gpu.yaml sets the
spec's sizes. Every number of the phase is here, none is in the phase's code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

STRATEGIES = ("think", "step", "reason", "mece", "falsify", "expert", "doubt")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BakeConfig(_Strict):
    """Step 1: supervised training on worked solutions wrapped in thinking tokens."""

    enabled: bool = Field(True, description="Run step 1 (else step 2 starts from the input).")
    strategies: list[str] = Field(
        default_factory=lambda: list(STRATEGIES),
        min_length=1,
        description=f"Thinking strategies the documents are written in; any of {STRATEGIES}.",
    )
    examples: int = Field(700, ge=1, description="Baked documents (spec: >= 1,600).")
    levels: list[int] = Field(
        default_factory=lambda: [1, 2], min_length=1, description="Task levels baked and gated."
    )
    plain_share: float = Field(
        0.3, ge=0, lt=1, description="Share of plain (answer-only) documents mixed in."
    )
    steps: int = Field(150, ge=1, description="Training steps of the bake job.")
    batch_size: int = Field(8, ge=1, description="Windows per step.")
    seq_len: int = Field(128, ge=16, description="Tokens per window.")
    lr: float = Field(2e-3, gt=0, le=1, description="Peak lr (AdamW; Muon on 2-D hidden).")
    warmup_steps: int = Field(10, ge=0, description="Linear warm-up, then cosine decay.")
    checkpoint_every: int = Field(50, ge=1, description="Checkpoint (resume point) interval.")
    per_level: int = Field(30, ge=1, description="Gate items per level (selection split).")
    max_new_tokens: int = Field(48, ge=4, description="Room for the thinking and the answer.")
    min_accuracy: float | None = Field(
        None, ge=0, le=1, description="Gate: absolute held-out accuracy (spec: 0.85); None: off."
    )
    min_accuracy_vs_input: float | None = Field(
        1.0,
        ge=0,
        description="Gate: baked accuracy (thinking, then answer) >= this x the input's "
        "(answering directly); None: off. A failed gate restores the input model.",
    )

    @field_validator("strategies")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(STRATEGIES))
        if unknown:
            raise ValueError(f"unknown strategies {unknown}; known: {', '.join(STRATEGIES)}")
        return v


class QuietStarConfig(_Strict):
    """Phase 3: bake thinking (step 1), then Quiet-STaR (step 2) as a Ray Train job, then the
    anti-theater comparison with and without thoughts, and the gate."""

    bake: BakeConfig = Field(default_factory=BakeConfig)
    # step 2: Quiet-STaR (training/quietstar.py)
    thought_len: int = Field(4, ge=1, le=64, description="Thought tokens between the markers.")
    n_thoughts: int = Field(2, ge=2, le=16, description="Thoughts per position (spec: 4-8).")
    n_true: int = Field(4, ge=1, le=32, description="True tokens ahead the reward scores.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of thoughts.")
    reinforce_weight: float = Field(1.0, ge=0, description="Weight of the REINFORCE term.")
    kl_weight: float = Field(0.1, ge=0, description="KL to the step-2 start model (spec 0.1).")
    steps: int = Field(40, ge=1, description="Training steps of the Quiet-STaR job.")
    batch_size: int = Field(4, ge=1, description="Windows per step (x n_thoughts thoughts).")
    seq_len: int = Field(48, ge=8, description="Tokens per window (each gets a thought).")
    lr: float = Field(5e-4, gt=0, le=1, description="AdamW lr of the language model.")
    head_lr: float = Field(1e-2, gt=0, le=1, description="AdamW lr of the mixing head.")
    eval_every: int = Field(20, ge=1, description="Validation step every this many steps.")
    checkpoint_every: int = Field(20, ge=1, description="Checkpoint (resume point) interval.")
    val_batch: int = Field(4, ge=1, description="Validation windows per validation step.")
    # anti-theater evaluation (test split)
    levels: list[int] = Field(
        default_factory=lambda: [1, 2], min_length=1, description="Task levels of the test."
    )
    per_level: int = Field(40, ge=1, description="Test items per level.")
    loss_docs: int = Field(60, ge=1, description="Held-out documents for the loss comparison.")
    samples: int = Field(4, ge=0, description="Prompts answered with hidden thoughts (artefact).")
    # gate (SPEC_NOTES: anti-theater accuracy gain > 0.02, correlation > 0.3, validity > 75%)
    min_accuracy_gain: float | None = Field(
        0.02, description="Gate: test accuracy with thoughts - without > this; None: off."
    )
    min_reward_correlation: float | None = Field(
        0.3, description="Gate: corr(thought reward, answer correct) > this; None: off."
    )
    min_validity: float | None = Field(
        0.75, ge=0, le=1, description="Gate: share of well-formed thoughts > this; None: off."
    )
    max_ms_per_thought: float | None = Field(
        None, gt=0, description="Gate: time per thought (spec: < 15 ms on a GPU); None: off."
    )
    on_gate_fail: Literal["fail", "restore"] = Field(
        "restore",
        description="When the thoughts fail the gate: 'fail' stops the run; 'restore' hands on "
        "the model from before step 2 (reported as a fallback, never as a pass).",
    )
    seed: int = Field(0, ge=0, description="Seed of data order, thought sampling and bootstrap.")

    @model_validator(mode="after")
    def _window_fits(self) -> QuietStarConfig:
        if self.n_true >= self.seq_len:
            raise ValueError(f"n_true ({self.n_true}) must be < seq_len ({self.seq_len})")
        return self
