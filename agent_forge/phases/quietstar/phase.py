"""Phase 3 Quiet-STaR (SPEC_NOTES Phase 3; docs/phases/quietstar.md).

Step 1 bakes thinking: supervised training (a Ray Train job) on the task generators' worked
solutions written in the thinking tokens (7 strategies), gated on held-out accuracy; a failed
gate restores the input model. Step 2 is Quiet-STaR (Zelikman et al. 2024) as a Ray Train job:
a thought at every position in parallel, a mixing head, REINFORCE on the gain in log-likelihood
of the true continuation. Then the anti-theater test: the same model, the same test items, with
and without thoughts, paired bootstrap CIs, and the correlation of a thought's reward with the
answer's correctness. The configured gate decides; a failed gate stops the run or (on_gate_fail:
restore) hands on the model from before step 2, reported as a fallback.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch

from agent_forge.config.quietstar_config import QuietStarConfig
from agent_forge.core.contracts import ModelHandle, Phase, PhaseContext, PhaseResult
from agent_forge.core.storage import atomic_write_json
from agent_forge.errors import UserInputError
from agent_forge.phases.quietstar import evaluate, jobs

log = logging.getLogger(__name__)
STEP_METRICS = ("thoughts_generated", "thoughts_valid", "validity_rate", "avg_coherence",
                "semantic_similarity", "logical_consistency", "relevance_score", "fluency_score",
                "processing_time_ms")  # fmt: skip


class QuietStarPhase(Phase):
    name = "quietstar"
    Config = QuietStarConfig

    def run(self, ctx: PhaseContext, inputs: list[ModelHandle]) -> PhaseResult:
        from transformers import AutoTokenizer

        from agent_forge.eval.catalog import builtin_data_dir

        if len(inputs) != 1:
            raise UserInputError(f"quietstar takes exactly 1 model, got {len(inputs)}")
        (source,) = inputs
        e = ctx.config.eval
        self._ctx = ctx
        self._tok = AutoTokenizer.from_pretrained(source.path)
        self._data = builtin_data_dir(ctx.home.root, e.data_seed, e.examples_per_level,
                                      e.corpus_bytes)  # fmt: skip
        start, side, bake = source, [], {"enabled": False}
        if self.config.bake.enabled:
            baked, bake = self._bake(source)
            if bake["gate_passed"]:
                start, side = baked, [baked]
        thought = self._thought_config()
        res = self._quietstar(start, thought)
        model = self._load(start, res.checkpoint_path, thought_mixing=True)
        anti, samples = self._anti_theater(model, thought)
        return self._finish(source, start, side, bake, res, model, anti, samples)

    # ---- step 1: baking -------------------------------------------------------------------
    def _bake(self, source: ModelHandle) -> tuple[ModelHandle, dict[str, Any]]:
        """Once per session (the "bake" step marker): the bake job, then the gate on the selection split."""
        from agent_forge.data.lm_text import encode_documents
        from agent_forge.data.thinking import baking_documents, thinking_document
        from agent_forge.phases.quietstar.gates import bake_gate
        from agent_forge.runtime.jobs import run_jobs

        ctx, c, tok = self._ctx, self.config, self._tok
        saved = ctx.markers.get("bake")
        if saved is not None:
            h = saved.get("model")
            handle = ModelHandle.from_json(h) if h else source
            return handle, saved["report"]
        b = c.bake
        train = self._examples("train", b.levels)
        docs = baking_documents(train, b.strategies, b.examples, b.plain_share, c.seed)
        val = self._examples("selection", b.levels)[:200]
        val_docs = [thinking_document(ex, b.strategies[i % len(b.strategies)])
                    for i, ex in enumerate(val)]  # fmt: skip
        streams = (encode_documents(tok, docs, c.seed), encode_documents(tok, val_docs, c.seed))
        job = jobs.job(ctx, "bake", jobs.bake_body, jobs.start_source(source), c.seed,
                       jobs.bake_extra(c, streams))  # fmt: skip
        [res] = run_jobs([job])
        for step, values in _curves(res.history):
            ctx.log({f"bake/{k}": v for k, v in values.items()}, step=step)
        baked = self._load(source, res.checkpoint_path)
        original = self._load(source, None)
        items = self._items("selection", b.levels, b.per_level, b.max_new_tokens)
        direct = evaluate.direct_accuracy(original, tok, items, b.max_new_tokens)
        thinking, outs = evaluate.thinking_accuracy(baked, tok, items, b.max_new_tokens)
        acc_in, acc_baked = _mean(direct), _mean(thinking)
        verdict = bake_gate(b, acc_baked, acc_in, len(items))
        failures = [r.message for r in verdict.failures]
        report = {
            "enabled": True,
            "documents": len(docs),
            "strategies": list(b.strategies),
            "train_wall_seconds": res.wall_s,
            "items": len(items),
            "input_accuracy": acc_in,
            "baked_accuracy": acc_baked,
            "think_rate": _mean([int("</think>" in o) for o in outs]),
            "gate_passed": verdict.passed,
            "gate_failures": failures,
            "gate": verdict.to_json(),
            "samples": [
                {"prompt": i.prompt, "target": i.target, "completion": o}
                for i, o in list(zip(items, outs, strict=True))[:8]
            ],  # fmt: skip
        }
        handle = None
        if verdict.passed:
            handle = ctx.save_model(baked, "baked", tokenizer=tok,
                                    metrics={k: report[k] for k in ("input_accuracy", "baked_accuracy")},
                                    extra={"source_model": source.model_id})  # fmt: skip
        else:
            log.warning("bake gate failed (%s): step 2 starts from the input", "; ".join(failures))
        ctx.markers.put("bake", {"report": report, "model": handle and handle.to_json()})
        return handle or source, report

    # ---- step 2: Quiet-STaR -------------------------------------------------------------------
    def _thought_config(self) -> dict[str, Any]:
        from agent_forge.data.special_tokens import (
            BOS,
            END_OF_THOUGHT,
            EOS,
            PAD,
            SPECIAL_TOKENS,
            START_OF_THOUGHT,
        )  # fmt: skip

        c = self.config
        ids = {t: SPECIAL_TOKENS.index(t) for t in SPECIAL_TOKENS}
        return {
            "thought_len": c.thought_len, "n_thoughts": c.n_thoughts, "n_true": c.n_true,
            "temperature": c.temperature, "reinforce_weight": c.reinforce_weight,
            "kl_weight": c.kl_weight, "start_id": ids[START_OF_THOUGHT], "end_id": ids[END_OF_THOUGHT],
            "banned_ids": [ids[t] for t in (PAD, BOS, EOS, START_OF_THOUGHT, END_OF_THOUGHT)],
        }  # fmt: skip

    def _quietstar(self, start: ModelHandle, thought: dict[str, Any]) -> Any:
        from agent_forge.data import load_corpus
        from agent_forge.data.lm_text import encode_documents, format_example
        from agent_forge.runtime.jobs import run_jobs

        ctx, c, tok = self._ctx, self.config, self._tok
        train = load_corpus(self._data, "train") + [
            format_example(e) for e in self._examples("train", c.levels)
        ]
        val = load_corpus(self._data, "selection")[:50]
        streams = (encode_documents(tok, train, c.seed), encode_documents(tok, val, c.seed))
        inputs = jobs.quietstar_extra(c, thought, streams)
        source = jobs.start_source(start, thought_mixing=True)
        [res] = run_jobs([jobs.job(ctx, "step2", jobs.quietstar_body, source, c.seed, inputs)])
        return res

    # ---- anti-theater -------------------------------------------------------------------------
    def _anti_theater(self, model: Any, thought: dict[str, Any]) -> tuple[dict[str, Any], list]:
        from agent_forge.eval.catalog import SuiteOptions, build_suite
        from agent_forge.eval.thought_quality import anti_theater
        from agent_forge.training.quietstar import ThoughtConfig

        c, tok = self.config, self._tok
        cfg = ThoughtConfig(**(thought | {"n_true": 1}))
        items = self._items("test", c.levels, c.per_level, 16)
        encoded = evaluate.encode_items(tok, items)
        rows = [ids for ids, _ in encoded]
        spans = [(p - 1, len(ids) - 1) for ids, p in encoded]
        scored, secs, n = evaluate.with_and_without(model, rows, spans, cfg, tok.pad_token_id,
                                                    c.seed)  # fmt: skip
        loss = build_suite("loss_test", SuiteOptions(data_dir=self._data))
        doc_rows = [tok(i.text, add_special_tokens=False).input_ids[: 2 * c.seq_len]
                    for i in loss.items[: c.loss_docs]]  # fmt: skip
        doc_rows = [r for r in doc_rows if len(r) >= 2]
        docs, secs2, n2 = evaluate.with_and_without(
            model, doc_rows, [(0, len(r) - 1) for r in doc_rows], cfg, tok.pad_token_id, c.seed
        )
        e = self._ctx.config.eval
        anti = anti_theater(scored, docs, e.bootstrap_resamples, e.seed)
        anti["ms_per_thought"] = 1000 * (secs + secs2) / max(1, n + n2)
        anti["thoughts"] = n + n2
        anti["chance"] = items and _majority(items)
        samples = evaluate.hidden_thought_samples(model, tok, items[: c.samples], cfg, 6, c.seed)
        return anti, samples

    # ---- gate and outputs -----------------------------------------------------------------------
    def _finish(self, source: ModelHandle, start: ModelHandle, side: list[ModelHandle],
                bake: dict[str, Any], res: Any, model: Any, anti: dict[str, Any],
                samples: list) -> PhaseResult:  # fmt: skip
        from agent_forge.phases.quietstar.gates import anti_theater_passed, thought_gate

        ctx, c, tok = self._ctx, self.config, self._tok
        steps = _validation_steps(res.history)
        for step, values in _curves(res.history):
            ctx.log({k: v for k, v in values.items() if k.startswith("train/")}, step=step)
        for n, vals in steps.items():
            ctx.log({f"step_{n}/{k}": vals[k] for k in STEP_METRICS if k in vals}, step=n)
        final = steps[max(steps)] if steps else {}
        gain = anti["accuracy_gain"][0]
        corr = anti["reward_correctness_correlation"]
        validity = final.get("validity_rate", math.nan)
        coherence = final.get("avg_coherence", math.nan)
        verdict = thought_gate(c, anti, validity)  # eval.checks: "thinker" or "restored"
        anti_passed, ms = anti_theater_passed(verdict), anti["ms_per_thought"]
        artifacts = self._artifacts(bake, anti, steps, samples)
        atomic_write_json(ctx.run_dir / "gate.json", verdict.to_json())
        artifacts["gate"] = str(ctx.run_dir / "gate.json")
        measured = {"coherence": coherence, "validity": validity,
                    "accuracy_gain": gain, "reward_correctness_correlation": corr}  # fmt: skip
        error = verdict.primary.error()
        fallback = None
        if verdict.chosen == "thinker":
            handle = ctx.save_model(model, "thinker", tokenizer=tok, metrics={"anti_theater": _jsonable(anti)},
                                    extra=measured | {"thoughts": True, "source_model": source.model_id,
                                                      "step2_start": start.model_id})  # fmt: skip
        elif verdict.chosen == "restored":
            fallback = (
                f"{error}; handed on the step-2 start model {start.model_id} without thoughts"
            )
            restored = self._load(start, None)
            handle = ctx.save_model(restored, "restored", tokenizer=tok,
                                    metrics={"anti_theater": _jsonable(anti)},
                                    extra=measured | {"thoughts": False, "fallback": fallback,
                                                      "source_model": source.model_id,
                                                      "step2_start": start.model_id})  # fmt: skip
        else:
            handle = None
        metrics = {
            "phase/total_thoughts": sum(v.get("thoughts_generated", 0) for v in steps.values())
            + anti["thoughts"],
            "phase/validity_rate": validity,
            "phase/avg_coherence": coherence,
            "phase/accuracy_improvement": gain,
            "phase/anti_theater_passed": anti_passed,
            "phase/accuracy_with_thoughts": anti["accuracy_with"][0],
            "phase/accuracy_without_thoughts": anti["accuracy_without"][0],
            "phase/reward_correctness_correlation": corr,
            "phase/ms_per_thought": ms,
            "phase/loss_with_thoughts": anti["doc_loss_with"][0],
            "phase/loss_without_thoughts": anti["doc_loss_without"][0],
            "phase/bake_gate_passed": bake.get("gate_passed"),
            "phase/bake_accuracy": bake.get("baked_accuracy"),
            "phase/bake_input_accuracy": bake.get("input_accuracy"),
            "phase/train_wall_seconds": res.wall_s,
        }
        metrics = {k: v for k, v in metrics.items() if v is not None}
        return PhaseResult(
            handle is not None, self.name, [handle] if handle else [], metrics, side_models=side,
            artifacts=artifacts, error=error if handle is None else None, fallback=fallback,
        )  # fmt: skip

    def _artifacts(self, bake: dict[str, Any], anti: dict[str, Any], steps: dict[int, Any],
                   samples: list) -> dict[str, str]:  # fmt: skip
        run_dir = self._ctx.run_dir
        paths = {"anti_theater": run_dir / "anti_theater.json",
                 "thought_samples": run_dir / "thought_samples.json",
                 "validation_steps": run_dir / "validation_steps.json",
                 "bake_report": run_dir / "bake_report.json"}  # fmt: skip
        atomic_write_json(paths["anti_theater"], _jsonable(anti))
        atomic_write_json(paths["thought_samples"], samples)
        atomic_write_json(paths["validation_steps"], {str(k): v for k, v in steps.items()})
        atomic_write_json(paths["bake_report"], bake)
        return {k: str(p) for k, p in paths.items()}

    # ---- helpers --------------------------------------------------------------------------------
    def _examples(self, split: str, levels: list[int]) -> list[Any]:
        from agent_forge.data import load_split
        from agent_forge.eval.suites import CODE_DOMAINS

        return [e for e in load_split(self._data, split)
                if e.level in levels and e.domain not in CODE_DOMAINS]  # fmt: skip

    def _items(self, split: str, levels: list[int], per_level: int, max_new: int) -> list[Any]:
        from agent_forge.eval.catalog import SuiteOptions, build_suite

        opts = SuiteOptions(data_dir=self._data, levels=tuple(levels), per_level=per_level,
                            max_new_tokens=max_new)  # fmt: skip
        return list(build_suite(f"tasks_{split}", opts).items)

    def _load(self, base: ModelHandle, checkpoint: str | None, thought_mixing: bool = False) -> Any:
        """`base`'s model, with a job checkpoint's weights when given (and a mixing head)."""
        from agent_forge.model.loading import load_strict
        from agent_forge.runtime.train import load_checkpoint_state
        from agent_forge.training import model_weights

        model = jobs.start_source(base, thought_mixing).load()
        if checkpoint is not None:  # hash-checked, strictly
            load_strict(model, model_weights(load_checkpoint_state(checkpoint)))
        return model.eval()


def _curves(history: list[dict[str, Any]]) -> list[tuple[int, dict[str, float]]]:
    from agent_forge.training import steps_of

    out = []
    for m in steps_of(history):
        values = {k: v for k, v in m.items() if k not in ("step", "steps", "time")
                  and isinstance(v, int | float) and not isinstance(v, bool)}  # fmt: skip
        out.append((m["step"] + 1, values))
    return out


def _validation_steps(history: list[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """Step number (1-based) -> the validation metrics of that step."""
    return {step: {k[len("val/"):]: v for k, v in values.items() if k.startswith("val/")}
            for step, values in _curves(history)
            if any(k.startswith("val/") for k in values)}  # fmt: skip


def _mean(xs: list[int]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def _majority(items: list[Any]) -> float:
    from agent_forge.eval.stats import majority_rate

    return majority_rate([i.target for i in items])


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, torch.Tensor):
        return v.tolist()
    return v
