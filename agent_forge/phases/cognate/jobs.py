"""Phase 1's Ray Train jobs: the body (the start model -> `train_lm`) and the spec of one run,
the shared pretraining (shared_pretrain_steps > 0) or a specialised model."""

from __future__ import annotations

from typing import Any

import torch

from agent_forge.config.phase_configs import CognatePhaseConfig
from agent_forge.core.contracts import ModelHandle, PhaseContext
from agent_forge.runtime.jobs import JobSpec, ModelSource, Worker, job_spec
from agent_forge.training import LMTrainConfig, OptimConfig, train_lm


def train_one(w: Worker) -> dict[str, Any]:
    """The job body: the start model (on the worker's device) -> train_lm. Plain torch."""
    i = w.inputs
    return train_lm(w.model, i["train_tokens"], i["val_tokens"], i["train"], w.report, w.resume)


def train_job(
    ctx: PhaseContext,
    c: CognatePhaseConfig,
    run: str,
    start: ModelHandle,
    overrides: dict[str, Any],
    seed: int,
    steps: int,
    streams: tuple[torch.Tensor, torch.Tensor],
    lr: float | None = None,
) -> JobSpec:
    """The job that trains `start`'s weights (its config with `overrides`) for `steps` steps
    (its own warmup + cosine, peak `lr`, default c.lr) on streams = (train, held-out), named
    `<session>-<run>` so a rerun of the session resumes it."""
    lr = c.lr if lr is None else lr
    optim = OptimConfig(
        muon_lr=lr,
        adamw_lr=lr,
        warmup_steps=min(c.warmup_steps, steps),
        total_steps=steps,
        grokfast_alpha=c.grokfast_alpha,
        grokfast_lambda=c.grokfast_lambda,
    )
    train = LMTrainConfig(
        steps=steps,
        batch_size=c.batch_size,
        seq_len=c.seq_len,
        eval_every=c.eval_every,
        checkpoint_every=c.checkpoint_every,
        optim=optim,
        seed=seed,
    )
    inputs = {"train_tokens": streams[0], "val_tokens": streams[1], "train": train}
    source = ModelSource.of(start, overrides=overrides)
    return job_spec(ctx, run, train_one, source, inputs, seed)
