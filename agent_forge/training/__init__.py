"""Training library: the Grokfast + Muon/AdamW optimiser, lr schedule and autocast (plain torch)."""

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

__all__ = [
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
]
