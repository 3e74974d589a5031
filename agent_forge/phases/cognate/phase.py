"""Phase 1 Cognate: one shared initialisation, then three specialised models, each trained as a
Ray Train job (concurrently when the CPUs allow), measured on held-out data and gated.

Data: the generated dataset (agent_forge.data) at levels 1..len(level_copies), lower levels
repeated more, plus the explanatory corpus; each specialisation mixes its own domains. The higher
levels are the curriculum phase's. Design and measurements: docs/phases/cognate.md.
"""

from __future__ import annotations

from typing import Any

import torch

from agent_forge.config.phase_configs import CognatePhaseConfig, SpecializationConfig
from agent_forge.core.contracts import ModelHandle, Phase, PhaseContext, PhaseResult
from agent_forge.data import check
from agent_forge.data.lm_text import format_prompt
from agent_forge.data.tasks import MAX_LEVEL
from agent_forge.eval import accuracy_by_level, unigram_loss
from agent_forge.model import CognateForCausalLM, cognate_consumer_gpu_config, cognate_tiny_config
from agent_forge.model.loading import load_strict
from agent_forge.phases.cognate.data import load_data, train_stream
from agent_forge.phases.cognate.gate import gate_models
from agent_forge.phases.cognate.jobs import train_job
from agent_forge.runtime.jobs import run_jobs
from agent_forge.runtime.train import trained_weights
from agent_forge.training import evaluate_loss, loss_curves


class CognatePhase(Phase):
    name = "cognate"
    Config = CognatePhaseConfig

    def run(self, ctx: PhaseContext, inputs: list[ModelHandle]) -> PhaseResult:
        c: CognatePhaseConfig = self.config
        tok, corpus, train_ex, val_tokens, test_ex = load_data(c, ctx.run_dir)
        pretrain = c.shared_pretrain_steps > 0  # else the random init is the shared init
        marker = "random_init" if pretrain else "shared_init"
        random_init = ctx.markers.once_model(marker, lambda: self._init(ctx, tok))
        init_model = CognateForCausalLM.from_pretrained(random_init.path).eval()
        init_val = evaluate_loss(init_model, val_tokens, c.seq_len, max_batches=16)  # the gate's
        vocab = init_model.config.vocab_size
        init = random_init
        if pretrain:
            union = sorted({d for s in c.specializations for d in s.domains})
            stream = train_stream(c, tok, corpus, train_ex, union, c.init_seed)
            init = ctx.markers.once_model(
                "shared_init",
                lambda: self._pretrain(ctx, tok, random_init, vocab, stream, val_tokens),
            )
        streams = [
            train_stream(c, tok, corpus, train_ex, s.domains, s.seed) for s in c.specializations
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
                model,
                spec.name,
                tokenizer=tok,
                specialization=spec.name,
                metrics=scores,
                extra=extra | {"act_threshold": spec.act_threshold},
            )
            scalars = {k: v for k, v in scores.items() if _scalar(v)}
            scalars |= {"size_mb": handle.metadata["size_mb"], "parameters": handle.parameters}
            ctx.log({f"model_{i}/{k}": v for k, v in scalars.items()})
            outputs.append(handle)
            summary[spec.name] = scores
        return gate_models(c, ctx, init, init_val, outputs, summary)

    # ---- steps ------------------------------------------------------------------------
    @property
    def _batch_tokens(self) -> int:
        return self.config.batch_size * self.config.seq_len

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
            self._model(len(tok)),
            "shared_init" if shared else "random_init",
            tokenizer=tok,
            tags=("shared_init",) if shared else (),
            extra={"seed": c.init_seed},
        )

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
            model,
            "shared_init",
            tokenizer=tok,
            tags=("shared_init",),
            metrics=metrics,
            extra=extra | {"random_init": random_init.model_id},
        )

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
                ctx,
                c,
                spec.name,
                init,
                overrides,
                spec.seed,
                c.steps - c.shared_pretrain_steps,
                (stream, val_tokens),
                lr,
            )
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


def _scalar(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
