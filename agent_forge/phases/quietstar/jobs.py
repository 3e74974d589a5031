"""Phase 3's two Ray Train jobs: the worker bodies (plain torch; Ray injects `reporter`) and the
`TrainJob`s naming them `<session>-quietstar-<step>` so that a rerun of the session resumes them.

- bake: the start model -> `train_lm` on the thinking documents (step 1);
- quietstar: REINFORCE over parallel thoughts (`training.quietstar.quietstar_loss`), KL to the
  frozen start model, a validation step every `eval_every` steps measuring the thoughts.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from agent_forge.config.quietstar_config import QuietStarConfig
from agent_forge.core.contracts import ModelHandle, PhaseContext


def load_start(loop_config: dict[str, Any], thought_mixing: bool = False) -> Any:
    """The start model from its checkpoint (hashes verified), optionally with a fresh mixing
    head (Quiet-STaR); plain torch."""
    from agent_forge.core.storage import load_state_dict
    from agent_forge.model import CognateConfig as ModelConfig
    from agent_forge.model import CognateForCausalLM

    config = dict(loop_config["model_config"])
    config["thought_mixing"] = thought_mixing
    model = CognateForCausalLM(ModelConfig(**config))
    state = load_state_dict(loop_config["init_path"], loop_config["init_sha256"])
    state = {k: v for k, v in state.items() if not k.startswith("thought_head.")}
    model.load_state_dict(state, strict=False)  # the tied head is stored once
    if thought_mixing:
        model.thought_head.reset_parameters()
    return model


def bake_loop(loop_config: dict[str, Any], reporter: Any, resume: Any) -> dict[str, Any]:
    """Step 1's worker: start model -> train_lm on the baked token stream."""
    from agent_forge.training import LMTrainConfig, train_lm

    torch.set_num_threads(loop_config["threads"])
    torch.manual_seed(loop_config["seed"])
    model = load_start(loop_config)
    return train_lm(
        model,
        loop_config["train_tokens"],
        loop_config["val_tokens"],
        LMTrainConfig(**loop_config["train"]),
        reporter.report,
        resume=(resume.state, resume.extra) if resume is not None else None,
    )


def _windows(tokens: torch.Tensor, n: int, seq_len: int) -> torch.Tensor:
    n = max(1, min(n, tokens.numel() // seq_len))
    return tokens[: n * seq_len].view(n, seq_len)


@torch.no_grad()
def validate(model: Any, x: torch.Tensor, cfg: Any, seed: int) -> dict[str, float]:
    """Thoughts on fixed held-out windows x (B, T): n_thoughts per position, sampled as in
    training; the spec's per-step metrics (eval/thought_quality.py) plus the mixed and base NLL."""
    from agent_forge.eval.thought_quality import thought_quality
    from agent_forge.training.quietstar import sample_thoughts, thought_pass, thought_validity

    was = model.training
    model.eval()
    r, (b, t) = cfg.n_thoughts, x.shape
    x_rep = x.repeat(r, 1)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    thoughts = sample_thoughts(model, x_rep, cfg, generator=gen)
    p = thought_pass(model, x_rep, thoughts, cfg)
    seconds = time.perf_counter() - t0
    v = p.base_logits.shape[-1]
    n = cfg.n_true
    # targets[b, t, i] = x[b, t + i + 1] where it exists
    pad = torch.cat([x, x.new_zeros(b, n)], dim=1)
    targets = torch.stack([pad[:, 1 + i : 1 + i + t] for i in range(n)], dim=-1)  # (B, T, n)
    valid_t = p.target_valid[:b]
    tgt_rep = targets.repeat(r, 1, 1)
    mixed = p.mixed_logprobs.gather(-1, tgt_rep[..., None]).squeeze(-1)  # (RB, T, n)
    base = p.base_logprobs_ahead.gather(-1, tgt_rep[..., None]).squeeze(-1)  # log p_base(x_{t+i+1})
    vmask = p.target_valid.float()
    gain = ((mixed - base) * vmask).sum(-1)  # (RB, T)
    quality = thought_quality(
        model.get_input_embeddings().weight,
        thoughts.view(r, b, t, -1),
        targets,
        valid_t,
        torch.log_softmax(p.post_logits[:, :, 0].float(), -1).view(r, b, t, v),
        gain.view(r, b, t),
        (-p.thought_logprob / thoughts.shape[-1]).view(r, b, t),
        thought_validity(thoughts, cfg, v).view(r, b, t),
        torch.ones(b, t, dtype=torch.bool),
    )
    out = quality.summary()
    out["processing_time_ms"] = 1000 * seconds / max(1, r * b * t)
    tokens = vmask.sum().clamp(min=1)
    out["nll_mixed"] = float(-(mixed * vmask).sum() / tokens)
    out["nll_base"] = float(-(base * vmask).sum() / tokens)
    model.train(was)
    return out


def quietstar_loop(loop_config: dict[str, Any], reporter: Any, resume: Any) -> dict[str, Any]:
    """Step 2's worker: Quiet-STaR REINFORCE from the start model, resumable from checkpoints."""
    from agent_forge.training.lm_loop import batch_at
    from agent_forge.training.quietstar import ThoughtConfig, quietstar_loss
    from agent_forge.training.train_state import pack_state, unpack_state

    torch.set_num_threads(loop_config["threads"])
    torch.manual_seed(loop_config["seed"])
    c, seed = loop_config["loop"], loop_config["seed"]
    cfg = ThoughtConfig(**loop_config["thought"])
    model = load_start(loop_config, thought_mixing=True)
    ref = load_start(loop_config).eval().requires_grad_(False)
    head = list(model.thought_head.parameters())
    head_ids = {id(p) for p in head}
    body = [p for p in model.parameters() if id(p) not in head_ids]
    opt = torch.optim.AdamW(
        [{"params": body, "lr": c["lr"]}, {"params": head, "lr": c["head_lr"]}], weight_decay=0.0
    )
    start = 0
    if resume is not None:
        unpack_state(model, resume.state, opt=opt)
        start = resume.step + 1
    val_x = _windows(loop_config["val_tokens"], c["val_batch"], c["seq_len"])
    model.train()
    pending: list[dict[str, Any]] = []
    last: dict[str, Any] = {}
    for step in range(start, c["steps"]):
        batch = batch_at(loop_config["train_tokens"], step, c["batch_size"], c["seq_len"], seed)
        with torch.no_grad():
            ref_logits = ref(input_ids=batch).logits
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
        loss, stats = quietstar_loss(model, batch, cfg, ref_logits=ref_logits, generator=gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        metrics: dict[str, Any] = {
            "step": step,
            "time": time.time(),
            "train/loss": float(loss.detach()),
        }
        metrics |= {f"train/{k}": v for k, v in stats.items()}
        metrics["train/grad_norm"] = float(grad_norm)
        done = step + 1 == c["steps"]
        if (step + 1) % c["eval_every"] == 0 or done:
            metrics |= {f"val/{k}": v for k, v in validate(model, val_x, cfg, seed).items()}
        pending.append(metrics)
        last = metrics
        if (step + 1) % c["checkpoint_every"] == 0 or done:
            reporter.report(
                {**metrics, "steps": pending}, pack_state(model, opt=opt), {"step": step}
            )
            pending = []
    return {"final": {k: v for k, v in last.items() if k != "steps"}, "resumed_from": start}


def job(
    ctx: PhaseContext,
    run: str,
    loop: Any,
    start: ModelHandle,
    seed: int,
    extra: dict[str, Any],
) -> Any:
    """The TrainJob running `loop` from `start`'s weights, named `<session>-quietstar-<run>`."""
    from transformers import AutoConfig

    from agent_forge.runtime.ray_runtime import storage_path
    from agent_forge.runtime.train import TrainJob

    scaling = ctx.config.ray.train
    model_config = AutoConfig.from_pretrained(start.path).to_dict()
    model_config = {k: v for k, v in model_config.items() if k not in _HF_ONLY}
    loop_config = {
        "seed": seed,
        "threads": max(1, int(scaling.cpus_per_worker)),
        "model_config": model_config,
        "init_path": str(start.path),
        "init_sha256": start.metadata["sha256"],
        **extra,
    }
    name = f"{ctx.session_id}-quietstar-{run}"
    return TrainJob(loop, loop_config, scaling, storage_path(ctx.config.ray, ctx.home), name)


# Keys of an HF config dict that are not CognateConfig constructor arguments.
_HF_ONLY = {"architectures", "transformers_version", "model_type", "auto_map", "dtype"}


def bake_extra(c: QuietStarConfig, streams: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
    """The bake job's loop_config entries: the streams and the LMTrainConfig."""
    from agent_forge.training import LMTrainConfig, OptimConfig

    b = c.bake
    optim = OptimConfig(muon_lr=b.lr, adamw_lr=b.lr, warmup_steps=min(b.warmup_steps, b.steps),
                        total_steps=b.steps, grokfast_enabled=False)  # fmt: skip
    train = LMTrainConfig(steps=b.steps, batch_size=b.batch_size, seq_len=b.seq_len,
                          eval_every=b.checkpoint_every, checkpoint_every=b.checkpoint_every,
                          optim=optim, seed=c.seed)  # fmt: skip
    return {"train_tokens": streams[0], "val_tokens": streams[1], "train": train.model_dump()}


def quietstar_extra(
    c: QuietStarConfig, thought: dict[str, Any], streams: tuple[torch.Tensor, torch.Tensor]
) -> dict[str, Any]:
    keys = ("steps", "batch_size", "seq_len", "lr", "head_lr", "eval_every", "checkpoint_every",
            "val_batch")  # fmt: skip
    return {
        "train_tokens": streams[0],
        "val_tokens": streams[1],
        "thought": thought,
        "loop": {k: getattr(c, k) for k in keys},
    }
