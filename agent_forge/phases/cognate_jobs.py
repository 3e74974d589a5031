"""Phase 1's Ray Train jobs: the worker body (start from a saved model, then `train_lm`) and the
job for one run: the shared pretraining (shared_pretrain_steps > 0) or a specialised model."""

from __future__ import annotations

from typing import Any

import torch

from agent_forge.config.phase_configs import CognateConfig
from agent_forge.core.contracts import ModelHandle, PhaseContext
from agent_forge.training import LMTrainConfig, OptimConfig, train_lm


def train_one(loop_config: dict[str, Any], reporter: Any, resume: Any) -> dict[str, Any]:
    """The Ray Train worker body: start model -> train_lm. Plain torch; Ray injects `reporter`."""
    from agent_forge.core.storage import load_state_dict
    from agent_forge.model import CognateConfig as ModelConfig
    from agent_forge.model import CognateForCausalLM

    torch.set_num_threads(loop_config["threads"])  # the worker's CPUs, not the machine's
    torch.manual_seed(loop_config["seed"])
    model = CognateForCausalLM(ModelConfig(**loop_config["model_config"]))
    state = load_state_dict(loop_config["init_path"], loop_config["init_sha256"])
    model.load_state_dict(state, strict=False)  # the tied head is stored once
    model.to(loop_config["device"])  # Ray Train gives a GPU worker its GPU as cuda:0
    return train_lm(
        model,
        loop_config["train_tokens"],
        loop_config["val_tokens"],
        LMTrainConfig(**loop_config["train"]),
        reporter.report,
        resume=(resume.state, resume.extra) if resume is not None else None,
    )


def train_job(
    ctx: PhaseContext,
    c: CognateConfig,
    run: str,
    start: ModelHandle,
    model_config: dict[str, Any],
    seed: int,
    steps: int,
    streams: tuple[torch.Tensor, torch.Tensor],
    lr: float | None = None,
) -> Any:
    """The TrainJob that trains `start`'s weights for `steps` steps (its own warmup + cosine, peak
    `lr`, default c.lr) on streams = (train, held-out), named `<session>-<run>` so a rerun of the
    session resumes it."""
    from agent_forge.runtime.ray_runtime import storage_path
    from agent_forge.runtime.train import TrainJob

    scaling = ctx.config.ray.train
    lr = c.lr if lr is None else lr
    optim = OptimConfig(
        muon_lr=lr, adamw_lr=lr, warmup_steps=min(c.warmup_steps, steps), total_steps=steps,
        grokfast_alpha=c.grokfast_alpha, grokfast_lambda=c.grokfast_lambda,
    )  # fmt: skip
    train = LMTrainConfig(
        steps=steps, batch_size=c.batch_size, seq_len=c.seq_len, eval_every=c.eval_every,
        checkpoint_every=c.checkpoint_every, optim=optim, seed=seed,
    )  # fmt: skip
    loop_config = {
        "seed": seed,
        "threads": max(1, int(scaling.cpus_per_worker)),
        "device": "cuda" if scaling.use_gpu else "cpu",
        "model_config": model_config,
        "init_path": str(start.path),
        "init_sha256": start.metadata["sha256"],
        "train_tokens": streams[0],
        "val_tokens": streams[1],
        "train": train.model_dump(),
    }
    name = f"{ctx.session_id}-{run}"
    return TrainJob(train_one, loop_config, scaling, storage_path(ctx.config.ray, ctx.home), name)
