"""Phase 4's Ray Train job: quantisation-aware fine-tuning (training/qat.py) on the shared loop.

Every linear layer outside `keep` becomes a BitLinear whose strength warms up from 0 to 1; the
latent full-precision weights train, and the phase quantises them afterwards. Resumable: a
checkpoint holds the weights, the optimiser state and the step.
"""

from __future__ import annotations

from typing import Any

import torch

from agent_forge.config.bitnet_config import BitNetConfig
from agent_forge.core.contracts import ModelHandle, PhaseContext
from agent_forge.runtime.jobs import JobSpec, ModelSource, Worker, job_spec
from agent_forge.training import OptimConfig, evaluate_loss
from agent_forge.training.lm_loop import windows
from agent_forge.training.loop import LoopConfig, Stage, lm_loss, train
from agent_forge.training.optim import hybrid
from agent_forge.training.qat import StrengthWarmup


def qat_body(w: Worker) -> dict[str, Any]:
    """The job body: BitLinear swapped in, then one stage of the shared loop. Plain torch."""
    from agent_forge.quant import swap_in

    c: BitNetConfig = w.inputs["config"]
    train_tokens, val = w.inputs["train_tokens"], w.inputs["val_tokens"]
    swap_in(w.model, keep=list(c.keep), per_row=c.per_row, act_bits=c.act_bits, strength=0.0)
    optim = OptimConfig(
        muon_lr=c.qat_lr,
        adamw_lr=c.qat_lr,
        warmup_steps=c.qat_lr_warmup_steps,
        total_steps=c.qat_steps,
        grokfast_enabled=False,
    )
    stage = Stage(
        "qat",
        c.qat_steps,
        windows(train_tokens, c.qat_batch_size, c.qat_seq_len, c.seed),
        lm_loss,
        hybrid(optim),
        hooks=[StrengthWarmup(w.model, c.qat_strength_warmup_steps)],
        evaluate=lambda m: {"loss": evaluate_loss(m, val, c.qat_seq_len, 4)},
    )
    loop = LoopConfig(
        eval_every=c.qat_eval_every,
        checkpoint_every=c.qat_checkpoint_every,
        report_every=10,
        precision=w.precision,
    )
    out = train(w.model, [stage], loop, w.report, w.resume)
    return {
        "final_train_loss": out.last.get("train/loss"),
        "final_val_loss": out.last.get("val/loss"),
        "train_seconds": out.seconds,
        "resumed_from_step": out.resumed_at[1] if out.resumed_at else None,
    }


def qat_inputs(c: BitNetConfig, streams: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
    return {"config": c, "train_tokens": streams[0], "val_tokens": streams[1]}


def qat_job(
    ctx: PhaseContext,
    c: BitNetConfig,
    start: ModelHandle,
    streams: tuple[torch.Tensor, torch.Tensor],
) -> JobSpec:
    """The job `<session>-bitnet-qat` (a rerun of the session resumes it). QAT runs in fp32:
    the STE's rounding under bf16 autocast is untested here."""
    inputs = qat_inputs(c, streams)
    return job_spec(ctx, "bitnet-qat", qat_body, ModelSource.of(start), inputs, c.seed, "fp32")
