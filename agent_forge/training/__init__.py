"""Training library (plain torch): the one training loop (stages, hooks, resumable state), the
Grokfast + Muon/AdamW optimiser and grouped AdamW, lr schedule, autocast, causal-LM training."""

from agent_forge.training.curves import loss_curves, steps_of
from agent_forge.training.lm_loop import LMTrainConfig, evaluate_loss, train_lm, windows
from agent_forge.training.loop import Hook, LoopConfig, LoopResult, LoopState, Stage, lm_loss, train
from agent_forge.training.optim import (
    GrokfastEMA,
    GroupedAdamW,
    HybridOptimizer,
    HybridStep,
    OptimConfig,
    autocast_context,
    bf16_autocast_supported,
    build_grokfast,
    build_optimizer,
    hybrid,
    lr_scale,
    optimizer_step,
    split_params,
)
from agent_forge.training.train_state import model_weights, pack_state, unpack_state

__all__ = [
    "Hook",
    "LoopConfig",
    "LoopResult",
    "LoopState",
    "Stage",
    "lm_loss",
    "train",
    "windows",
    "GroupedAdamW",
    "HybridStep",
    "hybrid",
    "loss_curves",
    "steps_of",
    "LMTrainConfig",
    "evaluate_loss",
    "model_weights",
    "train_lm",
    "GrokfastEMA",
    "HybridOptimizer",
    "OptimConfig",
    "autocast_context",
    "bf16_autocast_supported",
    "build_grokfast",
    "build_optimizer",
    "lr_scale",
    "optimizer_step",
    "split_params",
    "pack_state",
    "unpack_state",
]
