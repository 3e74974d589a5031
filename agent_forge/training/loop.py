"""The one training loop: `train(model, stages, cfg, report, resume)`. Plain torch, no Ray.

A job is a list of `Stage`s, each a batch provider (step -> batch), a loss function, an optimiser
factory (parameter groups, a trainable subset) and hooks. Pretraining, BitNet QAT and Quiet-STaR
are different stages, not different loops. Hooks and the batch provider may keep state
(`state_dict` / `load_state_dict`: a curriculum level, a replay buffer, an auxiliary network):
it is checkpointed with the model and the optimiser, so a resumed job continues where it was.
A hook may signal "advance" (end this stage), "stop" (end the job) or any other word, which
the loop hands to every hook's `on_signal` (e.g. "switch" between baking A/B tasks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from agent_forge.training.optim import autocast_context
from agent_forge.training.train_state import pack_state, unpack_state

# report(metrics, state, extra): state is a flat tensor dict to checkpoint (None = metrics only)
Report = Callable[[dict[str, Any], dict[str, torch.Tensor] | None, dict[str, Any] | None], None]
Resume = tuple[dict[str, torch.Tensor], dict[str, Any]]  # (checkpoint state, its extra JSON)
ADVANCE, STOP = "advance", "stop"


@dataclass
class LoopState:
    """What a loss function and a hook see of the loop at one step."""

    stage: str
    stage_index: int
    step: int  # 0-based, within the stage
    device: torch.device
    reference: nn.Module | None = None  # a frozen start / teacher model (KL, baking)


class Hook:
    """Called around every step of a stage; stateless unless it overrides `state_dict`."""

    name = "hook"

    def on_stage_start(self, loop: LoopState) -> None:
        """The stage begins (not called again when a job resumes inside the stage)."""

    def before_step(self, loop: LoopState) -> dict[str, Any] | None:
        """Before the batch is drawn; returned metrics are logged with the step."""
        return None

    def after_step(self, loop: LoopState, metrics: dict[str, Any]) -> str | None:
        """After the optimiser step and any evaluation; return a signal, or None."""
        return None

    def on_signal(self, signal: str, loop: LoopState) -> None:
        """Another hook signalled `signal` (neither "advance" nor "stop")."""

    def state_dict(self) -> dict[str, Any] | None:
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""


class StepOptimizer(Protocol):
    """Clip, schedule, step and zero the gradients; `state_dict` makes it resumable."""

    def step(self, model: nn.Module, step: int) -> dict[str, float]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


LossFn = Callable[[nn.Module, Any, LoopState], tuple[torch.Tensor, dict[str, float]]]


@dataclass
class Stage:
    """One sub-stage of a job: `steps` steps of `loss` on `batches(step)`."""

    name: str
    steps: int
    batches: Callable[[int], Any]
    loss: LossFn
    optimizer: Callable[[nn.Module], StepOptimizer]
    hooks: Sequence[Hook] = ()
    # every eval_every steps and at the stage's end; logged as "val/<key>"
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None
    # parameter name -> trains? (None: leave requires_grad as it is, e.g. LoRA set it)
    trainable: Callable[[str], bool] | None = None


class LoopConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    eval_every: int = Field(50, ge=1)
    checkpoint_every: int = Field(50, ge=1)
    # a report (ray.train.report on Ray) costs far more than a small step: send every Nth
    report_every: int = Field(10, ge=1)
    # auto: bf16 autocast where the device computes bf16 natively; fp32: never; bf16: always
    precision: Literal["auto", "bf16", "fp32"] = "auto"


@dataclass
class StageResult:
    name: str
    steps_run: int  # steps done by this process (0 for a stage finished before a resume)
    ended_by: str  # "steps", "advance" or "stop"
    last: dict[str, Any] = field(default_factory=dict)  # the last step's metrics


@dataclass
class LoopResult:
    stages: list[StageResult]
    resumed_at: tuple[int, int] | None  # (stage index, step) the job resumed at
    seconds: float
    tokens: int  # batch elements seen, where batches are tensors
    device: str  # where the model trained

    @property
    def last(self) -> dict[str, Any]:
        done = [s.last for s in self.stages if s.last]
        return done[-1] if done else {}


def _precision_context(device: torch.device, precision: str) -> Any:
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return autocast_context(device, enabled=precision == "auto")


def _to(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: _to(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(_to(v, device) for v in batch)
    return batch


def _stateful(stage: Stage, opt: StepOptimizer | None) -> dict[str, Any]:
    """Objects checkpointed with the model: the optimiser, a stateful batch provider, hooks."""
    out: dict[str, Any] = {"optimizer": opt}
    if callable(getattr(stage.batches, "state_dict", None)):
        out["batches"] = stage.batches
    for i, h in enumerate(stage.hooks):
        if type(h).state_dict is not Hook.state_dict:  # a hook that keeps state
            out[f"hook{i}.{h.name}"] = h
    return out


def _set_trainable(model: nn.Module, trainable: Callable[[str], bool] | None) -> None:
    if trainable is not None:
        for name, p in model.named_parameters():
            p.requires_grad_(trainable(name))


def train(
    model: nn.Module,
    stages: Sequence[Stage],
    cfg: LoopConfig,
    report: Report,
    resume: Resume | None = None,
    reference: nn.Module | None = None,
    extra: dict[str, Any] | None = None,
) -> LoopResult:
    """Run `stages` in order on `model` (already on its device). Metrics are reported every
    `report_every` steps (each step's under "steps"), a checkpoint every `checkpoint_every` and at
    each stage's end; `extra` (JSON) rides in every checkpoint. Resuming from a checkpoint gives
    the steps, batches and numbers of an uninterrupted run."""
    if not stages:
        raise ValueError("train needs at least one stage")
    device = next(model.parameters()).device
    at = tuple(resume[1]["resume_at"]) if resume is not None else (0, 0)
    results = [StageResult(s.name, 0, "steps") for s in stages[: at[0]]]
    t0, tokens = time.perf_counter(), 0
    for i in range(at[0], len(stages)):
        stage = stages[i]
        _set_trainable(model, stage.trainable)
        opt = stage.optimizer(model)
        loop = LoopState(stage.name, i, 0, device, reference)
        first = 0
        if resume is not None and i == at[0]:
            first = at[1]
            objs = _stateful(stage, opt if first > 0 else None)  # a new stage: a new optimiser
            unpack_state(model, resume[0], **objs)
        if first == 0:
            for h in stage.hooks:
                h.on_stage_start(loop)
        res, seen = _run_stage(model, stages, i, first, opt, loop, cfg, report, extra or {})
        results.append(res)
        tokens += seen
        if res.ended_by == STOP:
            break
    resumed = at if resume is not None else None
    return LoopResult(results, resumed, time.perf_counter() - t0, tokens, str(device))


def _run_stage(
    model: nn.Module,
    stages: Sequence[Stage],
    i: int,
    first: int,
    opt: StepOptimizer,
    loop: LoopState,
    cfg: LoopConfig,
    report: Report,
    extra: dict[str, Any],
) -> tuple[StageResult, int]:
    stage, tokens = stages[i], 0
    result = StageResult(stage.name, 0, "steps")
    pending: list[dict[str, Any]] = []  # per-step metrics not yet reported
    model.train()
    for step in range(first, stage.steps):
        loop.step = step
        metrics: dict[str, Any] = {"step": step}
        if len(stages) > 1:
            metrics["stage"] = stage.name
        for h in stage.hooks:
            metrics |= h.before_step(loop) or {}
        batch = _to(stage.batches(step), loop.device)
        with _precision_context(loop.device, cfg.precision):
            loss, stats = stage.loss(model, batch, loop)
        loss.backward()
        info = opt.step(model, step)
        tokens += batch.numel() if isinstance(batch, torch.Tensor) else 0
        metrics["train/loss"] = float(loss.detach())
        metrics |= {f"train/{k}": v for k, v in stats.items()}
        metrics["train/learning_rate"] = info["lr"]
        metrics["train/grad_norm"] = info["grad_norm"]
        metrics["time"] = time.time()  # wall clock at the end of the step: throughput incl. reports
        end = step + 1 == stage.steps
        if stage.evaluate is not None and ((step + 1) % cfg.eval_every == 0 or end):
            metrics |= {f"val/{k}": v for k, v in stage.evaluate(model).items()}
        signal = _signals(stage.hooks, loop, metrics)
        if signal in (ADVANCE, STOP):
            metrics["signal"] = signal
            result.ended_by = signal
            end = True
            if stage.evaluate is not None and not any(k.startswith("val/") for k in metrics):
                metrics |= {f"val/{k}": v for k, v in stage.evaluate(model).items()}
        pending.append(metrics)
        result.steps_run, result.last = result.steps_run + 1, metrics
        if (step + 1) % cfg.checkpoint_every == 0 or end:
            nxt = (i + 1, 0) if end else (i, step + 1)
            state = pack_state(model, **_stateful(stage, opt))
            ckpt_extra = {**extra, "step": step, "stage": i, "resume_at": list(nxt)}
            report({**metrics, "steps": pending}, state, ckpt_extra)
            pending = []
        elif (step + 1) % cfg.report_every == 0:
            report({**metrics, "steps": pending}, None, None)
            pending = []
        if end:
            break
    return result, tokens


def _signals(hooks: Sequence[Hook], loop: LoopState, metrics: dict[str, Any]) -> str | None:
    """Every hook's after_step; "stop" beats "advance"; other words go to every hook."""
    raised = [s for s in (h.after_step(loop, metrics) for h in hooks) if s]
    for s in raised:
        if s not in (ADVANCE, STOP):
            metrics.setdefault("signals", []).append(s)
            for h in hooks:
                h.on_signal(s, loop)
    for s in (STOP, ADVANCE):
        if s in raised:
            return s
    return None


def lm_loss(model: nn.Module, batch: torch.Tensor, loop: LoopState) -> tuple[torch.Tensor, dict]:
    """Next-token cross-entropy of a (B, T) batch."""
    return model(input_ids=batch, labels=batch).loss, {}
