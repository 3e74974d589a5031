"""Training library (plain torch): the Grokfast + Muon/AdamW optimiser, lr schedule, autocast,
and the causal-LM training loop."""

from agent_forge.training.curves import loss_curves, steps_of
from agent_forge.training.lm_loop import LMTrainConfig, evaluate_loss, train_lm
from agent_forge.training.optim import (
    GrokfastEMA,
    HybridOptimizer,
    OptimConfig,
    autocast_context,
    bf16_autocast_supported,
    build_grokfast,
    build_optimizer,
    lr_scale,
    optimizer_step,
    split_params,
)
from agent_forge.training.train_state import model_weights, pack_state, unpack_state

__all__ = [
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
