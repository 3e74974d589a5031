"""Two small real phases that the driver tests run (no real phase is built yet).

`TrainThree` ("cognate") trains three tiny Llama models from one shared init with SGD on a fixed
token stream, checkpointing every step (a CheckpointManager in its run folder) and resuming from
it. `AverageMerge` ("evomerge") averages its inputs' weights (a real linear merge) and measures
held-out loss.
"""

from __future__ import annotations

import time

import torch
from pydantic import BaseModel, ConfigDict, create_model

from agent_forge.core.checkpoints import CheckpointManager
from agent_forge.core.contracts import ModelHandle, Phase, PhaseContext, PhaseResult
from agent_forge.core.named_registry import Registry
from tests.conftest import make_tiny_llama

SEEDS = (42, 1337, 2023)
SPECIALIZATIONS = ("reasoning", "memory_integration", "adaptive_computation")


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: int = 4
    sleep: float = 0.0
    fail: bool = False


def _batch(seed: int, n: int = 4, t: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 8192, (n, t), generator=g)


def _loss(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    return model(input_ids=batch, labels=batch).loss


class TrainThree(Phase):
    name = "cognate"
    Config = TrainConfig

    def run(self, ctx: PhaseContext, inputs: list[ModelHandle]) -> PhaseResult:
        if self.config.fail:
            raise RuntimeError("deliberate failure for the test")
        steps = self.config.steps
        init = make_tiny_llama(0).state_dict()  # the shared initialisation
        states = [{k: v.clone() for k, v in init.items()} for _ in SEEDS]
        start, resumed_from = 0, None
        checkpoints = CheckpointManager(ctx.run_dir / "checkpoints")
        latest = checkpoints.latest()
        if latest is not None:
            step, flat, _extra = latest
            states = [
                {k[3:]: v for k, v in flat.items() if k.startswith(f"m{i}.")} for i in range(3)
            ]
            start = resumed_from = step + 1
        model = make_tiny_llama(0)
        for g in range(start, 3 * steps):
            i = g // steps
            model.load_state_dict(states[i])
            torch.manual_seed(SEEDS[i] + g)
            opt = torch.optim.SGD(model.parameters(), lr=0.05)
            loss = _loss(model, _batch(SEEDS[i] * 100 + g % steps))
            loss.backward()
            opt.step()
            states[i] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            ctx.log({f"model_{i + 1}/train/loss": loss.item()}, step=g)
            flat = {f"m{j}.{k}": v for j, s in enumerate(states) for k, v in s.items()}
            checkpoints.save(g, flat, {"model": i})
            time.sleep(self.config.sleep)
        outputs = []
        held_out = _batch(999)
        for i, state in enumerate(states):
            model.load_state_dict(state)
            with torch.no_grad():
                final = float(_loss(model, held_out))
            outputs.append(
                ctx.save_model(
                    model,
                    f"model{i + 1}",
                    specialization=SPECIALIZATIONS[i],
                    metrics={"final_loss": final},
                    extra={"seed": SEEDS[i], "final_loss": final},
                )
            )
        metrics = {"phase/avg_final_loss": sum(o.metadata["final_loss"] for o in outputs) / 3}
        if resumed_from is not None:
            metrics["phase/resumed_from_step"] = resumed_from
        return PhaseResult(True, self.name, outputs, metrics)


class MergeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    report_failure: bool = False


class AverageMerge(Phase):
    name = "evomerge"
    Config = MergeConfig

    def run(self, ctx: PhaseContext, inputs: list[ModelHandle]) -> PhaseResult:
        from agent_forge.runtime.object_store import fetch_state_dict

        via_store = sum(1 for m in inputs if m.object_ref is not None)
        states = [fetch_state_dict(m) for m in inputs]
        merged = {k: sum(s[k].float() for s in states) / len(states) for k in states[0]}
        model = make_tiny_llama(0)
        missing, unexpected = model.load_state_dict(merged, strict=False)
        assert set(missing) <= {"lm_head.weight"} and not unexpected  # tied head is not saved
        with torch.no_grad():
            loss = float(_loss(model, _batch(999)))
        out = ctx.save_model(
            model,
            "champion",
            metrics={"held_out_loss": loss},
            extra={"fitness": -loss, "merge_technique": "linear"},
        )
        return PhaseResult(
            not self.config.report_failure,
            self.name,
            [out],
            {"phase/final_fitness": -loss, "phase/inputs_via_object_store": via_store},
            error="gate failed: deliberate" if self.config.report_failure else None,
        )


def make_phases(
    steps: int = 4, sleep: float = 0.0, fail: bool = False, merge_fails: bool = False
) -> Registry:
    """A phase table whose classes carry the given settings as their config defaults."""
    train_cfg = create_model(
        "TrainCfg",
        __base__=TrainConfig,
        steps=(int, steps),
        sleep=(float, sleep),
        fail=(bool, fail),
    )
    merge_cfg = create_model("MergeCfg", __base__=MergeConfig, report_failure=(bool, merge_fails))
    train = type("Train", (TrainThree,), {"Config": train_cfg})
    merge = type("Merge", (AverageMerge,), {"Config": merge_cfg})
    return Registry("phase", {"cognate": train, "evomerge": merge})
