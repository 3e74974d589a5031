"""A causal-LM training loop as a plain function: `train_lm(model, data, cfg, report, resume)`.

No Ray inside (STYLE: runtime/ injects `report`: `ray.train.report` on Ray, a list append in
tests). The data order is a pure function of (seed, step), so a run resumed from a checkpoint
sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from agent_forge.training.optim import (
    OptimConfig,
    autocast_context,
    build_grokfast,
    build_optimizer,
    optimizer_step,
)
from agent_forge.training.train_state import pack_state, unpack_state

# report(metrics, state, extra): state is a flat tensor dict to checkpoint (None = metrics only)
Report = Callable[[dict[str, Any], dict[str, torch.Tensor] | None, dict[str, Any] | None], None]
ResumeState = tuple[dict[str, torch.Tensor], dict[str, Any]]


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


@torch.no_grad()
def evaluate_loss(
    model: nn.Module, tokens: torch.Tensor, seq_len: int, max_batches: int, batch_size: int = 16
) -> float:
    """Mean next-token cross-entropy over consecutive non-overlapping windows (every target
    token counted once)."""
    was_training = model.training
    model.eval()
    n_windows = min(tokens.numel() // seq_len, max_batches * batch_size)
    windows = tokens[: n_windows * seq_len].view(n_windows, seq_len)
    total, count = 0.0, 0
    for i in range(0, n_windows, batch_size):
        batch = windows[i : i + batch_size]
        logits = model(input_ids=batch).logits[:, :-1].float()
        nll = nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1), reduction="sum"
        )
        total, count = total + float(nll), count + batch[:, 1:].numel()
    model.train(was_training)
    return total / max(count, 1)


def _batched(pending: list[dict[str, Any]]) -> dict[str, Any]:
    """The last step's metrics, plus every step's since the previous report under "steps"."""
    return {**pending[-1], "steps": pending}


def train_lm(
    model: nn.Module,
    train_tokens: torch.Tensor,
    val_tokens: torch.Tensor,
    cfg: LMTrainConfig,
    report: Report,
    resume: ResumeState | None = None,
) -> dict[str, Any]:
    """Train `model` for cfg.steps; report metrics every step and a checkpoint every
    `checkpoint_every` steps and at the end. Returns the final losses and the resume step."""
    device = next(model.parameters()).device
    opt, grokfast = build_optimizer(model, cfg.optim), build_grokfast(model, cfg.optim)
    start = 0
    if resume is not None:
        unpack_state(model, resume[0], opt=opt, grokfast=grokfast)
        start = int(resume[1]["step"]) + 1
        initial_val = float(resume[1]["initial_val_loss"])  # of the untrained model, not of now
    else:
        initial_val = evaluate_loss(model, val_tokens, cfg.seq_len, cfg.eval_batches)
    model.train()
    val, loss_value, t0, tokens_seen = initial_val, math.nan, time.perf_counter(), 0
    pending: list[dict[str, Any]] = []  # per-step metrics not yet reported
    for step in range(start, cfg.steps):
        batch = batch_at(train_tokens, step, cfg.batch_size, cfg.seq_len, cfg.seed).to(device)
        with autocast_context(device, cfg.autocast):
            out = model(input_ids=batch, labels=batch)
        out.loss.backward()
        info = optimizer_step(model, opt, grokfast, cfg.optim, step)
        loss_value, tokens_seen = float(out.loss.detach()), tokens_seen + batch.numel()
        metrics = {
            "train/loss": loss_value,
            "train/learning_rate": info["lr"],
            "train/grad_norm": info["grad_norm"],
            "step": step,
            "time": time.time(),  # wall clock at the end of the step: throughput incl. reports
        }
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            val = evaluate_loss(model, val_tokens, cfg.seq_len, cfg.eval_batches)
            metrics["val/loss"] = val
        pending.append(metrics)
        last = step + 1 == cfg.steps
        if (step + 1) % cfg.checkpoint_every == 0 or last:
            extra = {"step": step, "initial_val_loss": initial_val}
            report(_batched(pending), pack_state(model, opt=opt, grokfast=grokfast), extra)
            pending = []
        elif (step + 1) % cfg.report_every == 0:
            report(_batched(pending), None, None)
            pending = []
    seconds = time.perf_counter() - t0
    return {
        "final_train_loss": loss_value,
        "final_val_loss": val,
        "initial_val_loss": initial_val,
        "resumed_from_step": start if resume is not None else None,
        "tokens_per_second": tokens_seen / seconds if seconds > 0 else None,
    }
