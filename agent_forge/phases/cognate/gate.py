"""Phase 1's gate (`eval.checks`, written to gate.json) and the phase's summary metrics."""

from __future__ import annotations

from typing import Any

from agent_forge.config.phase_configs import CognatePhaseConfig
from agent_forge.core.contracts import ModelHandle, PhaseContext, PhaseResult
from agent_forge.core.storage import atomic_write_json


def gate_models(
    c: CognatePhaseConfig,
    ctx: PhaseContext,
    init: ModelHandle,
    init_val: float,
    outputs: list[ModelHandle],
    summary: dict[str, Any],
) -> PhaseResult:
    """Gates (`eval.checks`, written to gate.json): parameter range (the profile's handoff
    rule), held-out loss fell by min_val_loss_drop from the shared init's, is below
    max_val_loss and beats the unigram baseline, and level-1 accuracy above chance."""
    from agent_forge.eval.checks import gate

    rule, checks = ctx.config.handoff_rule("cognate", "evomerge"), []
    span = rule.param_range if rule else None
    for h in outputs:
        s = summary[h.metadata["specialization"]]
        s["val_loss_drop"] = 1.0 - s["val_loss"] / init_val
        checks += _model_checks(c, span, h.model_id, h.parameters, s)
    verdict = gate("cognate", checks)
    losses = [summary[h.metadata["specialization"]]["val_loss"] for h in outputs]
    metrics = {
        "phase/num_models_created": len(outputs),
        "phase/initial_val_loss": init_val,
        "phase/total_parameters": sum(h.parameters for h in outputs),
        "phase/avg_final_loss": sum(losses) / len(losses),
        "phase/min_final_loss": min(losses),
        "phase/max_final_loss": max(losses),
        "phase/total_size_mb": sum(h.metadata["size_mb"] for h in outputs),
    }
    for name, s in summary.items():
        metrics[f"{name}/val_loss_drop"] = s["val_loss_drop"]
    atomic_write_json(ctx.run_dir / "evaluation.json", summary)
    atomic_write_json(ctx.run_dir / "gate.json", verdict.to_json())
    artifacts = {
        "shared_init": init.model_id,
        "evaluation": str(ctx.run_dir / "evaluation.json"),
        "gate": str(ctx.run_dir / "gate.json"),
    }
    kw = {"side_models": [init], "artifacts": artifacts, "error": verdict.error()}
    return PhaseResult(verdict.passed, "cognate", outputs, metrics, **kw)


def _model_checks(c: CognatePhaseConfig, span: Any, m: str, params: int, s: dict) -> list[Any]:
    """Model `m`'s checks of the Phase 1 gate, in the order reported. Level 1: the Wilson CI's
    lower end must be above the majority-answer rate (chance)."""
    from agent_forge.eval.checks import check, in_range, limit, superiority

    loss, lv1, out = s["val_loss"], s["accuracy_by_level"].get(1) or {}, []

    def add(key: str, value: Any, rule: Any, label: str, fmt: str = ".3f", **kw: Any) -> None:
        out.append(check(f"{m}/{key}", value, rule, label=f"{m}: {label}", fmt=fmt, **kw))

    if span:
        add("parameters", params, in_range(*span), "parameters", ",.0f")
    drop = limit(min=c.min_val_loss_drop)
    add("val_loss_drop", s["val_loss_drop"], drop, "held-out loss fell", ".1%")
    if c.max_val_loss is not None:
        add("val_loss", loss, limit(max=c.max_val_loss, inclusive=False), "held-out loss")
    unigram = limit(max=s["unigram_val_loss"], inclusive=False)
    add("beats_unigram", loss, unigram, "held-out loss", note="the unigram baseline")
    if c.gate_level1_above_chance:
        above, ci, n = superiority(lv1.get("chance", 0.0)), lv1.get("ci95"), lv1.get("n")
        note = "the reference is chance, the majority-answer rate"
        add("level_1", lv1.get("accuracy"), above, "level-1 accuracy", ci=ci, n=n, note=note)
    return out
