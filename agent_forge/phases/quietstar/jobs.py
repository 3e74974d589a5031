"""Phase 3's two Ray Train jobs: the bodies (plain torch, on the shared loop) and the `JobSpec`s
naming them `<session>-quietstar-<step>` so that a rerun of the session resumes them. bake:
the start model -> `train_lm` on the thinking documents (step 1); quietstar: REINFORCE over
parallel thoughts (`training.quietstar.quietstar_loss`), KL to the frozen start model, a
validation step every `eval_every` steps measuring the thoughts."""

from __future__ import annotations

import time
from typing import Any

import torch

from agent_forge.config.quietstar_config import QuietStarConfig
from agent_forge.core.contracts import ModelHandle, PhaseContext
from agent_forge.runtime.jobs import JobSpec, ModelSource, Worker, job_spec


def start_source(start: ModelHandle, thought_mixing: bool = False) -> ModelSource:
    """The start model, optionally with a fresh mixing head (Quiet-STaR); a stale head in the
    checkpoint is never loaded."""
    how = {"overrides": {"thought_mixing": thought_mixing}, "drop": ("thought_head.",)}
    return ModelSource.of(start, fresh=("thought_head.",) if thought_mixing else (), **how)


def bake_body(w: Worker) -> dict[str, Any]:
    """Step 1's body: the start model -> train_lm on the baked token stream."""
    from agent_forge.training import train_lm

    i = w.inputs
    return train_lm(w.model, i["train_tokens"], i["val_tokens"], i["train"], w.report, w.resume)


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


def quietstar_body(w: Worker) -> dict[str, Any]:
    """Step 2's body: Quiet-STaR REINFORCE from the start model (a fresh mixing head), KL to the
    frozen start model, one stage of the shared loop; resumable from its checkpoints."""
    from agent_forge.training.lm_loop import windows
    from agent_forge.training.loop import LoopConfig, Stage, train
    from agent_forge.training.optim import GroupedAdamW
    from agent_forge.training.quietstar import ThoughtConfig

    c, seed, model = w.inputs["loop"], w.seed, w.model
    cfg = ThoughtConfig(**w.inputs["thought"])
    model.thought_head.reset_parameters()
    ref = w.load(overrides={"thought_mixing": False}, fresh=()).eval().requires_grad_(False)
    val_x = _windows(w.inputs["val_tokens"], c["val_batch"], c["seq_len"]).to(w.device)
    stage = Stage(
        "quietstar",
        c["steps"],
        windows(w.inputs["train_tokens"], c["batch_size"], c["seq_len"], seed),
        thought_loss(cfg, seed),
        lambda m: GroupedAdamW(m, c["lr"], {"thought_head.": c["head_lr"]}),
        evaluate=lambda m: validate(m, val_x, cfg, seed),
    )
    every = c["checkpoint_every"]
    loop = LoopConfig(
        eval_every=c["eval_every"],
        checkpoint_every=every,
        report_every=every,
        precision=w.precision,
    )
    out = train(model, [stage], loop, w.report, w.resume, reference=ref)
    final = {k: v for k, v in out.last.items() if k != "steps"}
    resumed = out.resumed_at[1] if out.resumed_at else 0
    return {"final": final, "resumed_from": resumed, "device": out.device}


def thought_loss(cfg: Any, seed: int) -> Any:
    """The loss of one step: REINFORCE over sampled thoughts + KL to `loop.reference`, the
    thoughts drawn from a generator seeded by (seed, step) so a resumed run draws the same."""
    from agent_forge.training.quietstar import quietstar_loss

    def loss(model: Any, batch: torch.Tensor, loop: Any) -> tuple[torch.Tensor, dict]:
        with torch.no_grad():
            ref_logits = loop.reference(input_ids=batch).logits
        gen = torch.Generator(device=batch.device).manual_seed(seed * 1_000_003 + loop.step)
        return quietstar_loss(model, batch, cfg, ref_logits=ref_logits, generator=gen)

    return loss


def job(
    ctx: PhaseContext,
    run: str,
    body: Any,
    source: ModelSource,
    seed: int,
    inputs: dict[str, Any],
) -> JobSpec:
    """The job running `body` from `source`, named `<session>-quietstar-<run>`. It runs alone,
    so it may use every free CPU; fp32 (the thought sampling is untested under bf16)."""
    return job_spec(ctx, f"quietstar-{run}", body, source, inputs, seed, "fp32", alone=True)


def bake_extra(c: QuietStarConfig, streams: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
    """The bake job's loop_config entries: the streams and the LMTrainConfig."""
    from agent_forge.training import LMTrainConfig, OptimConfig

    b = c.bake
    optim = OptimConfig(
        muon_lr=b.lr,
        adamw_lr=b.lr,
        warmup_steps=min(b.warmup_steps, b.steps),
        total_steps=b.steps,
        grokfast_enabled=False,
    )
    train = LMTrainConfig(
        steps=b.steps,
        batch_size=b.batch_size,
        seq_len=b.seq_len,
        eval_every=b.checkpoint_every,
        checkpoint_every=b.checkpoint_every,
        optim=optim,
        seed=c.seed,
    )
    return {"train_tokens": streams[0], "val_tokens": streams[1], "train": train}


def quietstar_extra(
    c: QuietStarConfig, thought: dict[str, Any], streams: tuple[torch.Tensor, torch.Tensor]
) -> dict[str, Any]:
    keys = (
        "steps",
        "batch_size",
        "seq_len",
        "lr",
        "head_lr",
        "eval_every",
        "checkpoint_every",
        "val_batch",
    )
    return {
        "train_tokens": streams[0],
        "val_tokens": streams[1],
        "thought": thought,
        "loop": {k: getattr(c, k) for k in keys},
    }
