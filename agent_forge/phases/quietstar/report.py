"""Phase 3's outputs: the job histories as logged curves and per-step validation metrics, the JSON
files of the run directory (anti_theater, thought_samples, validation_steps, bake_report, gate),
and the phase/* metrics of the result."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from agent_forge.core.contracts import PhaseContext
from agent_forge.core.storage import atomic_write_json

if TYPE_CHECKING:
    from agent_forge.eval.checks import LadderResult

STEP_METRICS = (
    "thoughts_generated",
    "thoughts_valid",
    "validity_rate",
    "avg_coherence",
    "semantic_similarity",
    "logical_consistency",
    "relevance_score",
    "fluency_score",
    "processing_time_ms",
)


def curves(history: list[dict[str, Any]]) -> list[tuple[int, dict[str, float]]]:
    """(step, 1-based; its numeric metrics) per reported step of a job's history."""
    from agent_forge.training import steps_of

    out = []
    for m in steps_of(history):
        values = {
            k: v
            for k, v in m.items()
            if k not in ("step", "steps", "time")
            and isinstance(v, int | float)
            and not isinstance(v, bool)
        }
        out.append((m["step"] + 1, values))
    return out


def validation_steps(history: list[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """Step number (1-based) -> the validation metrics of that step."""
    return {
        step: {k[len("val/") :]: v for k, v in values.items() if k.startswith("val/")}
        for step, values in curves(history)
        if any(k.startswith("val/") for k in values)
    }


def log_history(ctx: PhaseContext, history: list[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """Logs step 2's train/* curves and each validation step's STEP_METRICS (as step_<n>/*);
    returns the validation steps."""
    steps = validation_steps(history)
    for step, values in curves(history):
        ctx.log({k: v for k, v in values.items() if k.startswith("train/")}, step=step)
    for n, vals in steps.items():
        ctx.log({f"step_{n}/{k}": vals[k] for k in STEP_METRICS if k in vals}, step=n)
    return steps


def write_artifacts(
    run_dir: Path,
    bake: dict[str, Any],
    anti: dict[str, Any],
    steps: dict[int, Any],
    samples: list,
    verdict: LadderResult,
) -> dict[str, str]:
    """The run directory's JSON files, then gate.json; name -> path."""
    paths = {
        "anti_theater": run_dir / "anti_theater.json",
        "thought_samples": run_dir / "thought_samples.json",
        "validation_steps": run_dir / "validation_steps.json",
        "bake_report": run_dir / "bake_report.json",
    }
    atomic_write_json(paths["anti_theater"], jsonable(anti))
    atomic_write_json(paths["thought_samples"], samples)
    atomic_write_json(paths["validation_steps"], {str(k): v for k, v in steps.items()})
    atomic_write_json(paths["bake_report"], bake)
    artifacts = {k: str(p) for k, p in paths.items()}
    atomic_write_json(run_dir / "gate.json", verdict.to_json())
    artifacts["gate"] = str(run_dir / "gate.json")
    return artifacts


def phase_metrics(
    steps: dict[int, Any],
    anti: dict[str, Any],
    bake: dict[str, Any],
    validity: float,
    coherence: float,
    anti_passed: bool,
    wall_s: float,
) -> dict[str, Any]:
    """The result's phase/* metrics; those without a value (bake off) left out."""
    metrics = {
        "phase/total_thoughts": sum(v.get("thoughts_generated", 0) for v in steps.values())
        + anti["thoughts"],
        "phase/validity_rate": validity,
        "phase/avg_coherence": coherence,
        "phase/accuracy_improvement": anti["accuracy_gain"][0],
        "phase/anti_theater_passed": anti_passed,
        "phase/accuracy_with_thoughts": anti["accuracy_with"][0],
        "phase/accuracy_without_thoughts": anti["accuracy_without"][0],
        "phase/reward_correctness_correlation": anti["reward_correctness_correlation"],
        "phase/ms_per_thought": anti["ms_per_thought"],
        "phase/loss_with_thoughts": anti["doc_loss_with"][0],
        "phase/loss_without_thoughts": anti["doc_loss_without"][0],
        "phase/bake_gate_passed": bake.get("gate_passed"),
        "phase/bake_accuracy": bake.get("baked_accuracy"),
        "phase/bake_input_accuracy": bake.get("input_accuracy"),
        "phase/train_wall_seconds": wall_s,
    }
    return {k: v for k, v in metrics.items() if v is not None}


def jsonable(v: Any) -> Any:
    """`v` as JSON: tuples as lists, tensors as lists, non-finite floats as None."""
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, torch.Tensor):
        return v.tolist()
    return v
