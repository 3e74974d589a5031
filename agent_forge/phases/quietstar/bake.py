"""Phase 3 step 1, baking: the bake job (supervised training, a Ray Train job, on the task
generators' worked solutions written in the thinking tokens, 7 strategies), then the bake gate on
held-out accuracy, thinking (baked) vs answering directly (input); a failed gate restores the
input model. Once per session: the "bake" step marker."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_forge.config.quietstar_config import BakeConfig, QuietStarConfig
from agent_forge.core.contracts import ModelHandle, PhaseContext
from agent_forge.phases.quietstar import evaluate, jobs, loading
from agent_forge.phases.quietstar.report import curves

if TYPE_CHECKING:
    from agent_forge.eval.checks import GateResult

log = logging.getLogger(__name__)


def bake(
    ctx: PhaseContext, c: QuietStarConfig, tok: Any, data_dir: Path, source: ModelHandle
) -> tuple[ModelHandle, dict[str, Any]]:
    """Once per session (the "bake" step marker): the bake job, then the gate on the selection
    split; the model step 2 starts from and the bake report."""
    from agent_forge.phases.quietstar.gates import bake_gate

    saved = ctx.markers.get("bake")
    if saved is not None:
        h = saved.get("model")
        handle = ModelHandle.from_json(h) if h else source
        return handle, saved["report"]
    b = c.bake
    res, n_docs = _train(ctx, c, tok, data_dir, source)
    baked = loading.model(source, res.checkpoint_path)
    original = loading.model(source, None)
    items = loading.items(data_dir, "selection", b.levels, b.per_level, b.max_new_tokens)
    direct = evaluate.direct_accuracy(original, tok, items, b.max_new_tokens)
    thinking, outs = evaluate.thinking_accuracy(baked, tok, items, b.max_new_tokens)
    acc_in, acc_baked = _mean(direct), _mean(thinking)
    verdict = bake_gate(b, acc_baked, acc_in, len(items))
    report = _report(b, n_docs, res.wall_s, items, acc_in, acc_baked, outs, verdict)
    handle = None
    if verdict.passed:
        handle = ctx.save_model(
            baked,
            "baked",
            tokenizer=tok,
            metrics={k: report[k] for k in ("input_accuracy", "baked_accuracy")},
            extra={"source_model": source.model_id},
        )
    else:
        failures = report["gate_failures"]
        log.warning("bake gate failed (%s): step 2 starts from the input", "; ".join(failures))
    ctx.markers.put("bake", {"report": report, "model": handle and handle.to_json()})
    return handle or source, report


def _train(
    ctx: PhaseContext, c: QuietStarConfig, tok: Any, data_dir: Path, source: ModelHandle
) -> tuple[Any, int]:
    """The bake job on the thinking documents (held-out: the selection split's first 200), its
    curves logged as bake/*; the job's result and the number of training documents."""
    from agent_forge.data.lm_text import encode_documents
    from agent_forge.data.thinking import baking_documents, thinking_document
    from agent_forge.runtime.jobs import run_jobs

    b = c.bake
    train = loading.examples(data_dir, "train", b.levels)
    docs = baking_documents(train, b.strategies, b.examples, b.plain_share, c.seed)
    val = loading.examples(data_dir, "selection", b.levels)[:200]
    val_docs = [
        thinking_document(ex, b.strategies[i % len(b.strategies)]) for i, ex in enumerate(val)
    ]
    streams = (encode_documents(tok, docs, c.seed), encode_documents(tok, val_docs, c.seed))
    job = jobs.job(
        ctx, "bake", jobs.bake_body, jobs.start_source(source), c.seed, jobs.bake_extra(c, streams)
    )
    [res] = run_jobs([job])
    for step, values in curves(res.history):
        ctx.log({f"bake/{k}": v for k, v in values.items()}, step=step)
    return res, len(docs)


def _report(
    b: BakeConfig,
    documents: int,
    wall_s: float,
    items: list[Any],
    acc_in: float,
    acc_baked: float,
    outs: list[str],
    verdict: GateResult,
) -> dict[str, Any]:
    """bake_report.json: the sizes, both accuracies, the gate and the first 8 completions."""
    return {
        "enabled": True,
        "documents": documents,
        "strategies": list(b.strategies),
        "train_wall_seconds": wall_s,
        "items": len(items),
        "input_accuracy": acc_in,
        "baked_accuracy": acc_baked,
        "think_rate": _mean([int("</think>" in o) for o in outs]),
        "gate_passed": verdict.passed,
        "gate_failures": [r.message for r in verdict.failures],
        "gate": verdict.to_json(),
        "samples": [
            {"prompt": i.prompt, "target": i.target, "completion": o}
            for i, o in list(zip(items, outs, strict=True))[:8]
        ],
    }


def _mean(xs: list[int]) -> float:
    return sum(xs) / len(xs) if xs else 0.0
