"""Quantisation-aware training with the straight-through estimator: the strength warm-up hook.

Every BitLinear's strength rises linearly from 0 to 1 over the warm-up ("Fine-tuning LLMs to
1.58bit", Hugging Face 2024), then training goes on fully quantised; the latent full-precision
weights train (quant/ternary.py has BitLinear and the STE).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from agent_forge.training.loop import Hook, LoopState


def strength_at(step: int, warmup_steps: int) -> float:
    """Quantisation strength of `step` (0-based): (step + 1) / warmup, reaching 1 at the end of
    the warm-up and staying there; 1 from the start without a warm-up."""
    return 1.0 if warmup_steps <= 0 else min(1.0, (step + 1) / warmup_steps)


def set_strength(model: nn.Module, strength: float) -> None:
    from agent_forge.quant import BitLinear

    for m in model.modules():
        if isinstance(m, BitLinear):
            m.strength = strength


class StrengthWarmup(Hook):
    """Sets every BitLinear's strength before each step; logs it as "qat/strength"."""

    name = "strength_warmup"

    def __init__(self, model: nn.Module, warmup_steps: int):
        self.model, self.warmup_steps = model, warmup_steps

    def before_step(self, loop: LoopState) -> dict[str, Any]:
        strength = strength_at(loop.step, self.warmup_steps)
        set_strength(self.model, strength)
        return {"qat/strength": strength}
