"""Phase 4's Ray Train job: quantisation-aware fine-tuning with the straight-through estimator.

Every linear layer outside `keep` becomes a BitLinear; its strength rises linearly from 0 to 1
over the warm-up ("Fine-tuning LLMs to 1.58bit", Hugging Face 2024), then training goes on fully
quantised. The latent full-precision weights train; the phase quantises them afterwards.
Resumable: a checkpoint holds the weights, the optimiser state and the step.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from agent_forge.config.bitnet_config import BitNetConfig
from agent_forge.core.contracts import ModelHandle, PhaseContext


def strength_at(step: int, warmup_steps: int) -> float:
    """Quantisation strength of `step` (0-based): (step + 1) / warmup, reaching 1 at the end of
    the warm-up and staying there; 1 from the start without a warm-up."""
    return 1.0 if warmup_steps <= 0 else min(1.0, (step + 1) / warmup_steps)


def _set_strength(model: Any, strength: float) -> None:
    from agent_forge.quant import BitLinear

    for m in model.modules():
        if isinstance(m, BitLinear):
            m.strength = strength


def qat_loop(loop_config: dict[str, Any], reporter: Any, resume: Any) -> dict[str, Any]:
    """The Ray Train worker body (plain torch; Ray injects `reporter`)."""
    from agent_forge.core.storage import load_state_dict
    from agent_forge.model import CognateConfig as ModelConfig
    from agent_forge.model import CognateForCausalLM
    from agent_forge.quant import swap_in
    from agent_forge.training import OptimConfig, evaluate_loss
    from agent_forge.training.lm_loop import batch_at
    from agent_forge.training.optim import build_optimizer, optimizer_step
    from agent_forge.training.train_state import pack_state, unpack_state

    c = loop_config
    torch.set_num_threads(c["threads"])
    torch.manual_seed(c["seed"])
    model = CognateForCausalLM(ModelConfig(**c["model_config"]))
    model.load_state_dict(load_state_dict(c["init_path"], c["init_sha256"]), strict=False)
    model.to(c["device"])
    swap_in(model, keep=c["keep"], per_row=c["per_row"], act_bits=c["act_bits"], strength=0.0)
    opt = build_optimizer(model, OptimConfig(**c["optim"]))
    start = 0
    if resume is not None:
        unpack_state(model, resume.state, opt=opt)
        start = resume.step + 1
    train, val = c["train_tokens"], c["val_tokens"]
    steps, bs, seq = c["steps"], c["batch_size"], c["seq_len"]
    val_loss, loss, t0 = None, float("nan"), time.perf_counter()
    pending: list[dict[str, Any]] = []  # a report costs more than a tiny step: batch them
    model.train()
    for step in range(start, steps):
        strength = strength_at(step, c["strength_warmup_steps"])
        _set_strength(model, strength)
        batch = batch_at(train, step, bs, seq, c["seed"]).to(c["device"])
        out = model(input_ids=batch, labels=batch)
        out.loss.backward()
        info = optimizer_step(model, opt, None, OptimConfig(**c["optim"]), step)
        loss = float(out.loss.detach())
        metrics: dict[str, Any] = {"step": step, "train/loss": loss, "qat/strength": strength,
                                   "train/learning_rate": info["lr"],
                                   "train/grad_norm": info["grad_norm"]}  # fmt: skip
        last = step + 1 == steps
        if (step + 1) % c["eval_every"] == 0 or last:
            val_loss = evaluate_loss(model, val, seq, c["eval_batches"])
            metrics["val/loss"] = val_loss
        pending.append(metrics)
        batched = {**metrics, "steps": pending}  # the last step's metrics, and every step's
        if (step + 1) % c["checkpoint_every"] == 0 or last:
            reporter.report(batched, pack_state(model, opt=opt), {"step": step})
            pending = []
        elif (step + 1) % c["report_every"] == 0:
            reporter.report(batched)
            pending = []
    seconds = time.perf_counter() - t0
    return {"final_train_loss": loss, "final_val_loss": val_loss, "train_seconds": seconds,
            "resumed_from_step": start if resume is not None else None}  # fmt: skip


def qat_loop_config(
    c: BitNetConfig,
    scaling: Any,
    start: ModelHandle,
    model_config: dict[str, Any],
    streams: tuple[torch.Tensor, torch.Tensor],
) -> dict[str, Any]:
    """The worker's settings: start weights (path + hash), data streams, quantisation, schedule."""
    optim = {"muon_lr": c.qat_lr, "adamw_lr": c.qat_lr, "warmup_steps": c.qat_lr_warmup_steps,
             "total_steps": c.qat_steps, "grokfast_enabled": False}  # fmt: skip
    return {
        "seed": c.seed,
        "threads": max(1, int(scaling.cpus_per_worker)),
        "device": "cuda" if scaling.use_gpu else "cpu",
        "model_config": model_config,
        "init_path": str(start.path),
        "init_sha256": start.metadata["sha256"],
        "train_tokens": streams[0],
        "val_tokens": streams[1],
        "keep": list(c.keep),
        "per_row": c.per_row,
        "act_bits": c.act_bits,
        "optim": optim,
        "steps": c.qat_steps,
        "strength_warmup_steps": c.qat_strength_warmup_steps,
        "batch_size": c.qat_batch_size,
        "seq_len": c.qat_seq_len,
        "eval_every": c.qat_eval_every,
        "eval_batches": 4,
        "checkpoint_every": c.qat_checkpoint_every,
        "report_every": 10,
    }


def qat_job(
    ctx: PhaseContext,
    c: BitNetConfig,
    start: ModelHandle,
    model_config: dict[str, Any],
    streams: tuple[torch.Tensor, torch.Tensor],
) -> Any:
    """The TrainJob `<session>-bitnet-qat` (a rerun of the session resumes it)."""
    from agent_forge.runtime.ray_runtime import storage_path
    from agent_forge.runtime.train import TrainJob

    scaling = ctx.config.ray.train
    loop_config = qat_loop_config(c, scaling, start, model_config, streams)
    name = f"{ctx.session_id}-bitnet-qat"
    return TrainJob(qat_loop, loop_config, scaling, storage_path(ctx.config.ray, ctx.home), name)
