"""Causal-LM training on a token stream: `train_lm(model, data, cfg, report, resume)`, one stage of
the shared loop (training/loop.py).

No Ray inside (STYLE: runtime/ injects `report`: `ray.train.report` on Ray, a list append in
tests). The data order is a pure function of (seed, step), so a run resumed from a checkpoint
sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from agent_forge.eval.loss import evaluate_loss  # the one held-out loss
from agent_forge.training.loop import LoopConfig, Report, Resume, Stage, lm_loss, train
from agent_forge.training.optim import OptimConfig, hybrid


class LMTrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: int = Field(200, ge=1)
    batch_size: int = Field(16, ge=1)
    seq_len: int = Field(128, ge=2)
    seed: int = 0
    eval_every: int = Field(50, ge=1)
    eval_batches: int = Field(8, ge=1)
    checkpoint_every: int = Field(50, ge=1)
    # a report (ray.train.report on Ray) costs far more than a small step: send every Nth
    report_every: int = Field(10, ge=1)
    autocast: bool = True
    optim: OptimConfig = Field(default_factory=OptimConfig)


def batch_at(
    tokens: torch.Tensor, step: int, batch_size: int, seq_len: int, seed: int
) -> torch.Tensor:
    """The batch of `step`: random windows of a 1-D token stream, chosen by (seed, step) only."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    starts = torch.randint(0, tokens.numel() - seq_len, (batch_size,), generator=g)
    return torch.stack([tokens[s : s + seq_len] for s in starts.tolist()])  # (B, T)


def windows(tokens: torch.Tensor, batch_size: int, seq_len: int, seed: int) -> Any:
    """The batch provider of a token stream: step -> `batch_at(tokens, step, ...)`."""
    return lambda step: batch_at(tokens, step, batch_size, seq_len, seed)


def train_lm(
    model: nn.Module,
    train_tokens: torch.Tensor,
    val_tokens: torch.Tensor,
    cfg: LMTrainConfig,
    report: Report,
    resume: Resume | None = None,
) -> dict[str, Any]:
    """Train `model` for cfg.steps on windows of `train_tokens` with Phase 1's optimiser (one
    `Stage` of `training.loop.train`); a checkpoint every `checkpoint_every` steps and at the end.
    Returns the final losses and the resume step."""
    if resume is not None:
        initial_val = float(resume[1]["initial_val_loss"])  # of the untrained model, not of now
    else:
        initial_val = evaluate_loss(model, val_tokens, cfg.seq_len, cfg.eval_batches)
    stage = Stage(
        "lm",
        cfg.steps,
        windows(train_tokens, cfg.batch_size, cfg.seq_len, cfg.seed),
        lm_loss,
        hybrid(cfg.optim),
        evaluate=lambda m: {"loss": evaluate_loss(m, val_tokens, cfg.seq_len, cfg.eval_batches)},
    )
    loop = LoopConfig(
        eval_every=cfg.eval_every,
        checkpoint_every=cfg.checkpoint_every,
        report_every=cfg.report_every,
        precision="auto" if cfg.autocast else "fp32",
    )
    out = train(model, [stage], loop, report, resume, extra={"initial_val_loss": initial_val})
    last = out.last
    return {
        "final_train_loss": last.get("train/loss", math.nan),
        "final_val_loss": last.get("val/loss", initial_val),
        "initial_val_loss": initial_val,
        "resumed_from_step": out.resumed_at[1] if out.resumed_at else None,
        "tokens_per_second": out.tokens / out.seconds if out.seconds > 0 else None,
    }
