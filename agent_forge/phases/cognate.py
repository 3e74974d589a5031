"""Phase 1 Cognate: one shared initialisation, then three specialised models, each trained as a
Ray Train job (concurrently when the CPUs allow), measured on held-out data and gated.

Data: the generated dataset (agent_forge.data) at levels 1..len(level_copies), lower levels
repeated more, plus the explanatory corpus; each specialisation mixes its own domains. The higher
levels are the curriculum phase's. Design and measurements: docs/phases/cognate.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from agent_forge.config.phase_configs import CognatePhaseConfig, SpecializationConfig
from agent_forge.core.contracts import ModelHandle, Phase, PhaseContext, PhaseResult
from agent_forge.core.storage import atomic_write_json
from agent_forge.data import build_dataset, check, load_corpus, load_split
from agent_forge.data.lm_text import encode_documents, format_example, format_prompt
from agent_forge.data.tasks import MAX_LEVEL
from agent_forge.eval import accuracy_by_level, unigram_loss
from agent_forge.model import CognateForCausalLM, cognate_consumer_gpu_config, cognate_tiny_config
from agent_forge.model.loading import load_strict
from agent_forge.model.tokenizer import load_tokenizer, save_tokenizer, train_tokenizer
from agent_forge.phases.cognate_jobs import train_job
from agent_forge.runtime.jobs import run_jobs
from agent_forge.runtime.train import trained_weights
from agent_forge.training import evaluate_loss, loss_curves

SANDBOX_DOMAINS = {"python_functions"}  # scored by the eval sandbox (a later issue), not here


class CognatePhase(Phase):
    name = "cognate"
    Config = CognatePhaseConfig

    def run(self, ctx: PhaseContext, inputs: list[ModelHandle]) -> PhaseResult:
        c: CognatePhaseConfig = self.config
        tok, corpus, train_ex, val_tokens, test_ex = self._data(ctx.run_dir)
        pretrain = c.shared_pretrain_steps > 0  # else the random init is the shared init
        marker = "random_init" if pretrain else "shared_init"
        random_init = ctx.markers.once_model(marker, lambda: self._init(ctx, tok))
        init_model = CognateForCausalLM.from_pretrained(random_init.path).eval()
        init_val = evaluate_loss(init_model, val_tokens, c.seq_len, max_batches=16)  # the gate's
        vocab = init_model.config.vocab_size
        init = random_init
        if pretrain:
            union = sorted({d for s in c.specializations for d in s.domains})
            stream = self._train_stream(tok, corpus, train_ex, union, c.init_seed)
            init = ctx.markers.once_model(
                "shared_init",
                lambda: self._pretrain(ctx, tok, random_init, vocab, stream, val_tokens),
            )
        streams = [
            self._train_stream(tok, corpus, train_ex, s.domains, s.seed) for s in c.specializations
        ]
        results = self._train_all(ctx, init, vocab, streams, val_tokens)
        mc = init_model.config
        ctx.log({"config/num_models": len(results), "config/hidden_size": mc.hidden_size})
        ctx.log({"config/num_layers": mc.num_hidden_layers, "config/vocab_size": vocab})
        outputs, summary = [], {}
        for i, (spec, res, stream) in enumerate(
            zip(c.specializations, results, streams, strict=True), 1
        ):
            model = self._model(vocab, spec.act_threshold)
            load_strict(model, trained_weights(res))  # hash-checked; a tied head stored once
            scores = self._evaluate(model.eval(), tok, stream, val_tokens, test_ex, spec)
            scores["train_wall_seconds"] = res.wall_s
            scores["tokens_per_second"] = (res.value or {}).get("tokens_per_second")
            scores["resumed_from_step"] = res.restored_step  # None: trained in one go
            for step, values in loss_curves(res.history, stream.numel() // self._batch_tokens):
                ctx.log({f"model_{i}/{k}": v for k, v in values.items()}, step=step)
            extra = {
                "seed": spec.seed,
                "final_loss": scores["val_loss"],
                "shared_init": init.model_id,
            }
            handle = ctx.save_model(
                model, spec.name, tokenizer=tok, specialization=spec.name, metrics=scores,
                extra=extra | {"act_threshold": spec.act_threshold},
            )  # fmt: skip
            scalars = {k: v for k, v in scores.items() if _scalar(v)}
            scalars |= {"size_mb": handle.metadata["size_mb"], "parameters": handle.parameters}
            ctx.log({f"model_{i}/{k}": v for k, v in scalars.items()})
            outputs.append(handle)
            summary[spec.name] = scores
        return self._gate(ctx, init, init_val, outputs, summary)

    def _data(self, run_dir: Path) -> tuple[Any, list[str], list[Any], torch.Tensor, list[Any]]:
        """The dataset (built once per session: a resume rebuilds nothing), the tokenizer, the
        train corpus and examples up to max_level, the held-out stream, the test examples."""
        c = self.config
        data_dir = run_dir / "data"
        if not (data_dir / "manifest.json").is_file():
            build_dataset(data_dir, c.data_seed, c.examples_per_level, corpus_bytes=c.corpus_bytes)
        corpus = load_corpus(data_dir, "train")
        train_ex = [e for e in load_split(data_dir, "train") if e.level <= c.max_level]
        tok = self._tokenizer(run_dir / "tokenizer", corpus, train_ex)
        selection = [e for e in load_split(data_dir, "selection") if e.level <= c.max_level]
        val_docs = load_corpus(data_dir, "selection") + [format_example(e) for e in selection]
        test_ex = [e for e in load_split(data_dir, "test") if e.domain not in SANDBOX_DOMAINS]
        return tok, corpus, train_ex, encode_documents(tok, val_docs, c.data_seed), test_ex

    # ---- steps ------------------------------------------------------------------------
    @property
    def _batch_tokens(self) -> int:
        return self.config.batch_size * self.config.seq_len

    def _tokenizer(self, path: Path, corpus: list[str], train_ex: list[Any]) -> Any:
        if (path / "tokenizer.json").is_file():
            return load_tokenizer(path)
        tok = train_tokenizer(
            corpus + [format_example(e) for e in train_ex], self.config.vocab_size
        )
        save_tokenizer(tok, path)
        return tok

    def _model(self, vocab: int, act_threshold: float | None = None) -> CognateForCausalLM:
        c = self.config
        build = cognate_tiny_config if c.model_size == "tiny" else cognate_consumer_gpu_config
        overrides: dict[str, Any] = {"act_threshold": act_threshold} if act_threshold else {}
        if c.act_max_steps is not None:
            overrides["act_max_steps"] = c.act_max_steps
        return CognateForCausalLM(build(vocab_size=vocab, **overrides))

    def _init(self, ctx: PhaseContext, tok: Any) -> ModelHandle:
        """The random initialisation. It is the shared init (tagged, the Phase 2 merge base)
        unless shared_pretrain_steps > 0: then it is the pretraining's start, saved in the run
        folder and never registered."""
        c = self.config
        torch.manual_seed(c.init_seed)
        shared = c.shared_pretrain_steps == 0
        return ctx.save_model(
            self._model(len(tok)), "shared_init" if shared else "random_init", tokenizer=tok,
            tags=("shared_init",) if shared else (), extra={"seed": c.init_seed},
        )  # fmt: skip

    def _pretrain(
        self,
        ctx: PhaseContext,
        tok: Any,
        random_init: ModelHandle,
        vocab: int,
        stream: torch.Tensor,
        val_tokens: torch.Tensor,
    ) -> ModelHandle:
        """The shared init trained shared_pretrain_steps on every specialisation's domains +
        corpus (one Ray Train job, resumable like the others), so that the three runs start in
        one basin (linear mode connectivity: merges of its children work)."""
        c = self.config
        streams = (stream, val_tokens)
        job = train_job(
            ctx,
            c,
            "shared_pretrain",
            random_init,
            {},
            c.init_seed,
            c.shared_pretrain_steps,
            streams,
        )
        [res] = run_jobs([job])
        model = self._model(vocab)
        load_strict(model, trained_weights(res))
        for step, values in loss_curves(res.history, stream.numel() // self._batch_tokens):
            ctx.log({f"shared_init/{k}": v for k, v in values.items()}, step=step)
        val = evaluate_loss(model.eval(), val_tokens, c.seq_len, max_batches=16)
        metrics = {"val_loss": val, "train_wall_seconds": res.wall_s}
        ctx.log({f"shared_init/{k}": v for k, v in metrics.items()})
        extra = {"seed": c.init_seed, "pretrain_steps": c.shared_pretrain_steps}
        return ctx.save_model(
            model, "shared_init", tokenizer=tok, tags=("shared_init",), metrics=metrics,
            extra=extra | {"random_init": random_init.model_id},
        )  # fmt: skip

    def _train_stream(
        self, tok: Any, corpus: list[str], train_ex: list[Any], domains: list[str], seed: int
    ) -> torch.Tensor:
        """The corpus plus these domains' examples, level L repeated level_copies[L-1] times
        (the easy levels are what a model this small can learn in Phase 1's budget)."""
        copies = self.config.level_copies
        docs = list(corpus)
        for e in train_ex:
            if e.domain in domains:
                docs += [format_example(e)] * copies[e.level - 1]
        return encode_documents(tok, docs, seed)

    def _train_all(
        self,
        ctx: PhaseContext,
        init: ModelHandle,
        vocab: int,
        streams: list[torch.Tensor],
        val_tokens: torch.Tensor,
    ) -> list[Any]:
        """The three runs from `init`, steps - shared_pretrain_steps each, as many at once as
        the workers' CPUs / GPUs fit."""
        c, jobs = self.config, []
        # fine-tuning from a pretrained shared init: specialize_lr (None: lr)
        pretrained = c.shared_pretrain_steps > 0 and c.specialize_lr is not None
        lr = c.specialize_lr if pretrained else c.lr
        for spec, stream in zip(c.specializations, streams, strict=True):
            overrides = {"act_threshold": spec.act_threshold} if spec.act_threshold else {}
            job = train_job(
                ctx, c, spec.name, init, overrides, spec.seed,
                c.steps - c.shared_pretrain_steps, (stream, val_tokens), lr,
            )  # fmt: skip
            jobs.append(job)
        return run_jobs(jobs)

    def _evaluate(
        self,
        model: Any,
        tok: Any,
        stream: torch.Tensor,
        val_tokens: torch.Tensor,
        test_ex: list[Any],
        spec: SpecializationConfig,
    ) -> dict[str, Any]:
        c = self.config
        by_level = accuracy_by_level(
            model,
            tok,
            [e for e in test_ex if e.domain in spec.domains],
            format_prompt,
            lambda ex, pred: check(ex.domain, ex, pred),
            range(1, MAX_LEVEL + 1),
            c.eval_examples_per_level,
            c.max_new_tokens,
        )
        scores: dict[str, Any] = {
            "val_loss": evaluate_loss(model, val_tokens, c.seq_len, max_batches=16),
            "unigram_val_loss": unigram_loss(stream, val_tokens, len(tok)),
            "accuracy_by_level": by_level,
        }
        for level, s in by_level.items():
            scores[f"eval/level_{level}_accuracy"] = s["accuracy"]
        return scores

    def _gate(
        self,
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
            checks += _model_checks(self.config, span, h.model_id, h.parameters, s)
        verdict = gate(self.name, checks)
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
        return PhaseResult(verdict.passed, self.name, outputs, metrics, **kw)


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


def _scalar(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
