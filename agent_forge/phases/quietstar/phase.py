"""Phase 3 Quiet-STaR (SPEC_NOTES Phase 3; docs/phases/quietstar.md): step 1 bakes thinking
(bake.py); step 2, Quiet-STaR (Zelikman et al. 2024) as a Ray Train job (jobs.py); then the
anti-theater test, the same model on the same test items with and without thoughts (evaluate.py),
and the configured gate (gates.py): a failed gate stops the run or (on_gate_fail: restore) hands
on the model from before step 2, reported as a fallback."""

from __future__ import annotations

import math
from typing import Any

from agent_forge.config.quietstar_config import QuietStarConfig
from agent_forge.core.contracts import ModelHandle, Phase, PhaseContext, PhaseResult
from agent_forge.errors import UserInputError
from agent_forge.phases.quietstar import bake as baking
from agent_forge.phases.quietstar import evaluate, jobs, loading, report


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
        self._data = builtin_data_dir(
            ctx.home.root, e.data_seed, e.examples_per_level, e.corpus_bytes
        )
        start, side, bake = source, [], {"enabled": False}
        if self.config.bake.enabled:
            baked, bake = baking.bake(ctx, self.config, self._tok, self._data, source)
            if bake["gate_passed"]:
                start, side = baked, [baked]
        thought = self._thought_config()
        res = self._quietstar(start, thought)
        model = loading.model(start, res.checkpoint_path, thought_mixing=True)
        anti, samples = self._anti_theater(model, thought)
        return self._finish(source, start, side, bake, res, model, anti, samples)

    # ---- step 2: Quiet-STaR -------------------------------------------------------------------
    def _thought_config(self) -> dict[str, Any]:
        from agent_forge.data.special_tokens import (
            BOS,
            END_OF_THOUGHT,
            EOS,
            PAD,
            SPECIAL_TOKENS,
            START_OF_THOUGHT,
        )

        c = self.config
        ids = {t: SPECIAL_TOKENS.index(t) for t in SPECIAL_TOKENS}
        return {
            "thought_len": c.thought_len,
            "n_thoughts": c.n_thoughts,
            "n_true": c.n_true,
            "temperature": c.temperature,
            "reinforce_weight": c.reinforce_weight,
            "kl_weight": c.kl_weight,
            "start_id": ids[START_OF_THOUGHT],
            "end_id": ids[END_OF_THOUGHT],
            "banned_ids": [ids[t] for t in (PAD, BOS, EOS, START_OF_THOUGHT, END_OF_THOUGHT)],
        }

    def _quietstar(self, start: ModelHandle, thought: dict[str, Any]) -> Any:
        from agent_forge.data import load_corpus
        from agent_forge.data.lm_text import encode_documents, format_example
        from agent_forge.runtime.jobs import run_jobs

        ctx, c, tok = self._ctx, self.config, self._tok
        train = load_corpus(self._data, "train") + [
            format_example(e) for e in loading.examples(self._data, "train", c.levels)
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
        items = loading.items(self._data, "test", c.levels, c.per_level, 16)
        encoded = evaluate.encode_items(tok, items)
        rows = [ids for ids, _ in encoded]
        spans = [(p - 1, len(ids) - 1) for ids, p in encoded]
        scored, secs, n = evaluate.with_and_without(
            model, rows, spans, cfg, tok.pad_token_id, c.seed
        )
        loss = build_suite("loss_test", SuiteOptions(data_dir=self._data))
        doc_rows = [
            tok(i.text, add_special_tokens=False).input_ids[: 2 * c.seq_len]
            for i in loss.items[: c.loss_docs]
        ]
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
    def _finish(
        self,
        source: ModelHandle,
        start: ModelHandle,
        side: list[ModelHandle],
        bake: dict[str, Any],
        res: Any,
        model: Any,
        anti: dict[str, Any],
        samples: list,
    ) -> PhaseResult:
        from agent_forge.phases.quietstar.gates import anti_theater_passed, thought_gate

        ctx, c = self._ctx, self.config
        steps = report.log_history(ctx, res.history)
        final = steps[max(steps)] if steps else {}
        validity = final.get("validity_rate", math.nan)
        coherence = final.get("avg_coherence", math.nan)
        verdict = thought_gate(c, anti, validity)  # eval.checks: "thinker" or "restored"
        anti_passed = anti_theater_passed(verdict)
        artifacts = report.write_artifacts(ctx.run_dir, bake, anti, steps, samples, verdict)
        measured = {
            "coherence": coherence,
            "validity": validity,
            "accuracy_gain": anti["accuracy_gain"][0],
            "reward_correctness_correlation": anti["reward_correctness_correlation"],
        }
        error = verdict.primary.error()
        handle, fallback = self._hand_on(
            verdict.chosen, error, source, start, model, anti, measured
        )
        metrics = report.phase_metrics(
            steps, anti, bake, validity, coherence, anti_passed, res.wall_s
        )
        return PhaseResult(
            handle is not None,
            self.name,
            [handle] if handle else [],
            metrics,
            side_models=side,
            artifacts=artifacts,
            error=error if handle is None else None,
            fallback=fallback,
        )

    def _hand_on(
        self,
        chosen: str | None,
        error: str | None,
        source: ModelHandle,
        start: ModelHandle,
        model: Any,
        anti: dict[str, Any],
        measured: dict[str, float],
    ) -> tuple[ModelHandle | None, str | None]:
        """The gate's choice saved: "thinker" (the model with thoughts), "restored" (the step-2
        start model without thoughts, a fallback) or nothing; the handle and the fallback."""
        ctx, tok = self._ctx, self._tok
        if chosen == "thinker":
            handle = ctx.save_model(
                model,
                "thinker",
                tokenizer=tok,
                metrics={"anti_theater": report.jsonable(anti)},
                extra=measured
                | {
                    "thoughts": True,
                    "source_model": source.model_id,
                    "step2_start": start.model_id,
                },
            )
            return handle, None
        if chosen == "restored":
            fallback = (
                f"{error}; handed on the step-2 start model {start.model_id} without thoughts"
            )
            restored = loading.model(start, None)
            handle = ctx.save_model(
                restored,
                "restored",
                tokenizer=tok,
                metrics={"anti_theater": report.jsonable(anti)},
                extra=measured
                | {
                    "thoughts": False,
                    "fallback": fallback,
                    "source_model": source.model_id,
                    "step2_start": start.model_id,
                },
            )
            return handle, fallback
        return None, None


def _majority(items: list[Any]) -> float:
    from agent_forge.eval.stats import majority_rate

    return majority_rate([i.target for i in items])
