"""Phase 1 Cognate: one shared initialisation, then three specialised models, each trained as a
Ray Train job (concurrently when the CPUs allow), measured on held-out data and gated.

Data: the generated dataset (agent_forge.data) at levels 1..len(level_copies), lower levels
repeated more, plus the explanatory corpus; each specialisation mixes its own domains. The higher
levels are the curriculum phase's. Design and measurements: docs/phases/cognate.md.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

import torch

from agent_forge.config.phase_configs import CognateConfig, SpecializationConfig
from agent_forge.core.contracts import ModelHandle, Phase, PhaseContext, PhaseResult
from agent_forge.core.storage import atomic_write_json
from agent_forge.data import build_dataset, check, load_corpus, load_split
from agent_forge.data.lm_text import encode_documents, format_example, format_prompt
from agent_forge.data.tasks import MAX_LEVEL
from agent_forge.eval import accuracy_by_level, unigram_loss
from agent_forge.model import CognateForCausalLM, cognate_consumer_gpu_config, cognate_tiny_config
from agent_forge.model.tokenizer import load_tokenizer, save_tokenizer, train_tokenizer
from agent_forge.training import LMTrainConfig, OptimConfig, evaluate_loss, train_lm

SANDBOX_DOMAINS = {"python_functions"}  # scored by the eval sandbox (a later issue), not here
_NOT_LOGGED = {"step", "steps", "time"}


def train_one(loop_config: dict[str, Any], reporter: Any, resume: Any) -> dict[str, Any]:
    """The Ray Train worker body: shared init -> train_lm. Plain torch; Ray injects `reporter`."""
    from agent_forge.core.storage import load_state_dict
    from agent_forge.model import CognateConfig as ModelConfig

    torch.set_num_threads(loop_config["threads"])  # the worker's CPUs, not the machine's
    torch.manual_seed(loop_config["seed"])
    model = CognateForCausalLM(ModelConfig(**loop_config["model_config"]))
    state = load_state_dict(loop_config["init_path"], loop_config["init_sha256"])
    model.load_state_dict(state, strict=False)  # the tied head is stored once
    model.to(loop_config["device"])  # Ray Train gives a GPU worker its GPU as cuda:0
    return train_lm(
        model,
        loop_config["train_tokens"],
        loop_config["val_tokens"],
        LMTrainConfig(**loop_config["train"]),
        reporter.report,
        resume=(resume.state, resume.extra) if resume is not None else None,
    )


class CognatePhase(Phase):
    name = "cognate"
    Config = CognateConfig

    def run(self, ctx: PhaseContext, inputs: list[ModelHandle]) -> PhaseResult:
        c: CognateConfig = self.config
        data_dir = ctx.run_dir / "data"
        if not (data_dir / "manifest.json").is_file():  # deterministic: a resume rebuilds nothing
            build_dataset(data_dir, c.data_seed, c.examples_per_level, corpus_bytes=c.corpus_bytes)
        corpus = load_corpus(data_dir, "train")
        train_ex = [e for e in load_split(data_dir, "train") if e.level <= c.max_level]
        tok = self._tokenizer(ctx.run_dir / "tokenizer", corpus, train_ex)
        val_docs = load_corpus(data_dir, "selection") + [
            format_example(e) for e in load_split(data_dir, "selection") if e.level <= c.max_level
        ]
        val_tokens = encode_documents(tok, val_docs, c.data_seed)
        init = self._shared_init(ctx, tok)
        init_model = CognateForCausalLM.from_pretrained(init.path).eval()
        init_val = evaluate_loss(init_model, val_tokens, c.seq_len, max_batches=16)
        streams = [self._train_stream(tok, corpus, train_ex, s) for s in c.specializations]
        results = self._train_all(ctx, init, streams, val_tokens)
        test_ex = [e for e in load_split(data_dir, "test") if e.domain not in SANDBOX_DOMAINS]
        ctx.log(self._config_metrics(ctx, init))
        outputs, summary = [], {}
        for i, (spec, res, stream) in enumerate(
            zip(c.specializations, results, streams, strict=True), start=1
        ):
            model = self._load_trained(init, spec, res)
            scores = self._evaluate(model, tok, stream, val_tokens, test_ex, spec)
            scores["train_wall_seconds"] = res.wall_s
            scores["tokens_per_second"] = (res.value or {}).get("tokens_per_second")
            scores["resumed_from_step"] = res.restored_step  # None: trained in one go
            self._log_history(ctx, i, res, steps_per_epoch=stream.numel() // self._batch_tokens)
            handle = ctx.save_model(
                model,
                spec.name,
                tokenizer=tok,
                specialization=spec.name,
                metrics=scores,
                extra={
                    "seed": spec.seed,
                    "final_loss": scores["val_loss"],
                    "act_threshold": spec.act_threshold,
                    "shared_init": init.model_id,
                },
            )
            ctx.log(
                {
                    f"model_{i}/size_mb": handle.metadata["size_mb"],
                    f"model_{i}/parameters": handle.parameters,
                    **{f"model_{i}/{k}": v for k, v in scores.items() if _scalar(v)},
                }
            )
            outputs.append(handle)
            summary[spec.name] = scores
        return self._gate(ctx, init, init_val, outputs, summary)

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

    def _model_config(self, vocab: int, act_threshold: float | None = None) -> Any:
        c = self.config
        build = cognate_tiny_config if c.model_size == "tiny" else cognate_consumer_gpu_config
        overrides: dict[str, Any] = {}
        if act_threshold is not None:
            overrides["act_threshold"] = act_threshold
        if c.act_max_steps is not None:
            overrides["act_max_steps"] = c.act_max_steps
        return build(vocab_size=vocab, **overrides)

    def _shared_init(self, ctx: PhaseContext, tok: Any) -> ModelHandle:
        marker = ctx.run_dir / "shared_init.json"
        if marker.is_file():  # made by an earlier attempt of this session: reuse it
            saved = json.loads(marker.read_text(encoding="utf-8"))
            return ModelHandle(saved["model_id"], Path(saved["path"]), saved["metadata"])
        torch.manual_seed(self.config.init_seed)
        model = CognateForCausalLM(self._model_config(len(tok)))
        handle = ctx.save_model(
            model,
            "shared_init",
            tokenizer=tok,
            tags=("shared_init",),
            extra={"seed": self.config.init_seed},
        )
        atomic_write_json(marker, handle.to_json())
        return handle

    def _train_stream(
        self, tok: Any, corpus: list[str], train_ex: list[Any], spec: SpecializationConfig
    ) -> torch.Tensor:
        """The corpus plus this specialisation's domains, level L repeated level_copies[L-1]
        times (the easy levels are what a model this small can learn in Phase 1's budget)."""
        copies = self.config.level_copies
        docs = list(corpus)
        for e in train_ex:
            if e.domain in spec.domains:
                docs += [format_example(e)] * copies[e.level - 1]
        return encode_documents(tok, docs, spec.seed)

    def _train_all(
        self,
        ctx: PhaseContext,
        init: ModelHandle,
        streams: list[torch.Tensor],
        val_tokens: torch.Tensor,
    ) -> list[Any]:
        from agent_forge.runtime.ray_runtime import storage_path
        from agent_forge.runtime.train import TrainJob, run_train_jobs

        c, scaling = self.config, ctx.config.ray.train
        train = LMTrainConfig(
            steps=c.steps,
            batch_size=c.batch_size,
            seq_len=c.seq_len,
            eval_every=c.eval_every,
            checkpoint_every=c.checkpoint_every,
            optim=OptimConfig(
                muon_lr=c.lr,
                adamw_lr=c.lr,
                warmup_steps=c.warmup_steps,
                total_steps=c.steps,
                grokfast_alpha=c.grokfast_alpha,
                grokfast_lambda=c.grokfast_lambda,
            ),
        )
        jobs = []
        for spec, stream in zip(c.specializations, streams, strict=True):
            loop_config = {
                "seed": spec.seed,
                "threads": max(1, int(scaling.cpus_per_worker)),
                "device": "cuda" if scaling.use_gpu else "cpu",
                "model_config": self._model_config(self._vocab(init), spec.act_threshold).to_dict(),
                "init_path": str(init.path),
                "init_sha256": init.metadata["sha256"],
                "train_tokens": stream,
                "val_tokens": val_tokens,
                "train": train.model_copy(update={"seed": spec.seed}).model_dump(),
            }
            name = f"{ctx.session_id}-{spec.name}"  # a rerun of the session resumes this run
            storage = storage_path(ctx.config.ray, ctx.home)
            jobs.append(TrainJob(train_one, loop_config, scaling, storage, name))
        return run_train_jobs(jobs)  # as many at once as the workers' CPUs / GPUs fit

    @staticmethod
    def _vocab(init: ModelHandle) -> int:
        config = json.loads((init.path / "config.json").read_text(encoding="utf-8"))
        return int(config["vocab_size"])

    def _load_trained(self, init: ModelHandle, spec: SpecializationConfig, res: Any) -> Any:
        from safetensors.torch import load_file

        from agent_forge.core.checkpoints import WEIGHTS_FILE

        state = load_file(str(Path(res.checkpoint_path) / WEIGHTS_FILE))
        model = CognateForCausalLM(self._model_config(self._vocab(init), spec.act_threshold))
        weights = {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}
        model.load_state_dict(weights, strict=False)
        return model.eval()

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

    def _config_metrics(self, ctx: PhaseContext, init: ModelHandle) -> dict[str, Any]:
        cfg = json.loads((init.path / "config.json").read_text(encoding="utf-8"))
        rule = ctx.config.handoff_rule("cognate", "evomerge")
        metrics = {
            "config/num_models": len(self.config.specializations),
            "config/hidden_size": cfg["hidden_size"],
            "config/num_layers": cfg["num_hidden_layers"],
        }
        if rule and rule.param_range:
            metrics["config/parameters_target"] = sum(rule.param_range) // 2
        return metrics

    def _log_history(self, ctx: PhaseContext, i: int, res: Any, steps_per_epoch: int) -> None:
        """Per step: the loop's metrics, train/loss_avg_100; per pass over the model's stream:
        epoch/loss (the mean train loss of that pass's steps)."""
        steps = {m["step"]: m for r in res.history for m in r.get("steps", [r])}
        window: deque[float] = deque(maxlen=100)
        epoch: list[float] = []
        for step in sorted(steps):
            m = steps[step]
            values = {f"model_{i}/{k}": v for k, v in m.items() if k not in _NOT_LOGGED}
            window.append(m["train/loss"])
            epoch.append(m["train/loss"])
            values[f"model_{i}/train/loss_avg_100"] = sum(window) / len(window)
            if len(epoch) == max(1, steps_per_epoch):
                values[f"model_{i}/epoch/loss"] = sum(epoch) / len(epoch)
                epoch = []
            ctx.log(values, step=step)

    def _gate(
        self,
        ctx: PhaseContext,
        init: ModelHandle,
        init_val: float,
        outputs: list[ModelHandle],
        summary: dict[str, Any],
    ) -> PhaseResult:
        """Gates: parameter range (the profile's handoff rule), held-out loss fell by
        min_val_loss_drop from the shared init's and beats the unigram baseline, and (when
        configured) level-1 accuracy above chance by its 95% CI."""
        c = self.config
        rule = ctx.config.handoff_rule("cognate", "evomerge")
        failures = []
        for h in outputs:
            s = summary[h.metadata["specialization"]]
            s["val_loss_drop"] = 1.0 - s["val_loss"] / init_val
            if rule and rule.param_range:
                lo, hi = rule.param_range
                if not lo <= h.parameters <= hi:
                    failures.append(f"{h.model_id}: {h.parameters} parameters not in [{lo}, {hi}]")
            if s["val_loss_drop"] < c.min_val_loss_drop:
                failures.append(
                    f"{h.model_id}: held-out loss fell {s['val_loss_drop']:.1%}, "
                    f"gate {c.min_val_loss_drop:.0%}"
                )
            if c.max_val_loss is not None and s["val_loss"] >= c.max_val_loss:
                failures.append(
                    f"{h.model_id}: held-out loss {s['val_loss']:.3f}, gate < {c.max_val_loss}"
                )
            if s["val_loss"] >= s["unigram_val_loss"]:
                failures.append(
                    f"{h.model_id}: held-out loss {s['val_loss']:.3f} does not beat "
                    f"the unigram baseline {s['unigram_val_loss']:.3f}"
                )
            level1 = s["accuracy_by_level"].get(1)
            if c.gate_level1_above_chance and not (level1 and level1["above_chance"]):
                failures.append(f"{h.model_id}: level-1 accuracy not above chance: {level1}")
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
        return PhaseResult(
            not failures,
            self.name,
            outputs,
            metrics,
            side_models=[init],
            artifacts={
                "shared_init": init.model_id,
                "evaluation": str(ctx.run_dir / "evaluation.json"),
            },
            error="; ".join(failures) or None,
        )


def _scalar(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
