"""Phase 4 BitNet b1.58 (SPEC_NOTES Phase 4; docs/phases/bitnet.md).

Calibrate on N windows of the selection split (the loss increase and each layer's output error
when quantised); when the increase exceeds the trigger, fine-tune with the straight-through
estimator and a warm-up of the quantisation strength (one Ray Train job, resumable). Then pack
(5 trits per byte + scales), export GGUF, reload the packed model and measure it against the input
on the test split (paired retention with CIs), and gate with the quality gate's `bitnet` stage.
Hand-off: a dequantised FP16 copy; the packed model and quantization_metadata.json are artifacts.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import torch

from agent_forge.config.bitnet_config import BitNetConfig
from agent_forge.core.contracts import ModelHandle, Phase, PhaseContext, PhaseResult
from agent_forge.core.storage import atomic_write_json
from agent_forge.errors import UserInputError
from agent_forge.eval import probes
from agent_forge.phases.bitnet import report
from agent_forge.quant import swap_in, swap_out
from agent_forge.quant.calibration import layer_errors, sample_loss
from agent_forge.quant.packed_model import (
    METADATA_FILE,
    describe,
    load_packed,
    pack_model,
    save_packed,
    ternary_module_names,
)

log = logging.getLogger(__name__)


class BitNetPhase(Phase):
    name = "bitnet"
    Config = BitNetConfig

    def run(self, ctx: PhaseContext, inputs: list[ModelHandle]) -> PhaseResult:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from agent_forge.eval.catalog import builtin_data_dir
        from agent_forge.eval.runner import EvalOptions

        c, e = self.config, ctx.config.eval
        if len(inputs) != 1:
            raise UserInputError(f"bitnet quantises exactly 1 model, got {len(inputs)}")
        (source,) = inputs
        tok = AutoTokenizer.from_pretrained(source.path)
        model = AutoModelForCausalLM.from_pretrained(source.path, dtype=torch.float32).eval()
        data = builtin_data_dir(ctx.home.root, e.data_seed, e.examples_per_level, e.corpus_bytes)
        test, streams = report.suites(data, c), report.streams(tok, data, c)
        opts = EvalOptions(
            batch_size=e.batch_size, bootstrap_resamples=e.bootstrap_resamples, seed=e.seed
        )
        names = ternary_module_names(model, c.keep)
        if not names:
            raise UserInputError(
                f"bitnet: every linear layer matches keep={c.keep}; nothing to quantise"
            )
        base = report.score(model, tok, test, opts)
        calib = self._calibrate(model, names, streams["calibration"])
        swap_in(model, keep=c.keep, per_row=c.per_row, act_bits=c.act_bits)
        post = report.score(model, tok, test, opts)  # quantised, before fine-tuning
        swap_out(model)
        qat = self._qat(ctx, source, model, calib, streams)
        packed = pack_model(model, c.keep, c.per_row, c.kept_dtype)
        packed_dir = ctx.run_dir / "packed"
        shutil.rmtree(packed_dir, ignore_errors=True)  # a rerun of the session packs again
        save_packed(packed, packed_dir, model.config, tok, {"calibration": calib, "qat": qat})
        final = load_packed(packed_dir, "ternary", act_bits=c.act_bits)
        after = report.score(final, tok, test, opts)
        perf = self._performance(model, final)
        gguf = self._gguf(ctx, packed, model.config)
        sizes = report.sizes(Path(source.path), packed_dir, packed.ternary_names())
        return self._finish(
            ctx, source, tok, packed, packed_dir, base, post, after, calib, qat, perf, gguf, sizes
        )

    # ---- steps ------------------------------------------------------------------------------
    def _calibrate(self, model: Any, names: list[str], samples: torch.Tensor) -> dict[str, Any]:
        """Loss on the calibration windows in full precision and quantised, and each layer's
        relative output error; `increase` decides whether QAT runs."""
        c = self.config
        fp = sample_loss(model, samples)
        errors = layer_errors(model, names, samples, c.per_row, c.act_bits)
        swap_in(model, keep=c.keep, per_row=c.per_row, act_bits=c.act_bits)
        quant = sample_loss(model, samples)
        swap_out(model)
        return {
            "samples": int(samples.size(0)),
            "seq_len": int(samples.size(1)),
            "loss_fp": fp,
            "loss_quantized": quant,
            "increase": quant / fp - 1.0,
            "layer_relative_error": errors,
        }

    def _qat(
        self,
        ctx: PhaseContext,
        source: ModelHandle,
        model: Any,
        calib: dict[str, Any],
        streams: dict[str, torch.Tensor],
    ) -> dict[str, Any]:
        """Run the QAT job when configured or triggered; load its weights into `model`."""
        from agent_forge.model.loading import load_strict
        from agent_forge.phases.bitnet.jobs import qat_job
        from agent_forge.runtime.jobs import run_jobs
        from agent_forge.runtime.train import trained_weights
        from agent_forge.training import steps_of

        c = self.config
        trigger = calib["increase"] > c.qat_trigger_loss_increase
        run = c.qat == "always" or (c.qat == "auto" and trigger)
        why = (
            f"qat={c.qat}; calibration loss +{calib['increase']:.2%} vs trigger "
            f"+{c.qat_trigger_loss_increase:.2%}"
        )
        if not run:
            return {"ran": False, "reason": why, "epochs": 0.0}
        job = qat_job(ctx, c, source, (streams["train"], streams["val"]))
        [res] = run_jobs([job])
        load_strict(model, trained_weights(res))  # hash-checked; the tied head stored once
        rows = steps_of(res.history)
        names = {
            "train/loss": "qat/train_loss",
            "val/loss": "qat/val_loss",
            "qat/strength": "qat/strength",
            "train/learning_rate": "qat/learning_rate",
        }
        for row in rows:
            ctx.log({new: row[k] for k, new in names.items() if k in row}, step=row["step"])
        tokens = c.qat_steps * c.qat_batch_size * c.qat_seq_len
        return {
            "ran": True,
            "reason": why,
            "job": job.name,
            "steps": len(rows),
            "strength": [r["qat/strength"] for r in rows],
            "final_val_loss": (res.value or {}).get("final_val_loss"),
            "resumed_from_step": res.restored_step,
            "wall_seconds": res.wall_s,
            "epochs": tokens / streams["train"].numel(),
        }

    def _performance(self, fp32: Any, ternary: Any) -> dict[str, float]:
        c, threads = self.config, probes.latency_threads()
        fp = probes.measure_latency(fp32, c.latency_seq_len, c.latency_repeats, threads=threads)
        q = probes.measure_latency(ternary, c.latency_seq_len, c.latency_repeats, threads=threads)
        t_fp, t_q = fp.median_s, q.median_s
        mem_fp, mem_q = probes.resident_bytes(fp32), probes.resident_bytes(ternary)
        return {
            "fp32_latency_s": t_fp,
            "ternary_latency_s": t_q,
            "speedup": t_fp / t_q,
            "fp32_bytes": mem_fp,
            "ternary_bytes": mem_q,
            "memory_reduction": mem_fp / mem_q,
            "threads": threads,
            "seq_len": c.latency_seq_len,
        }

    def _gguf(self, ctx: PhaseContext, packed: Any, config: Any) -> dict[str, Any] | None:
        from agent_forge.quant.gguf_export import export_gguf

        if not self.config.gguf:
            return None
        path = ctx.run_dir / "model.gguf"
        path.unlink(missing_ok=True)
        out = export_gguf(packed, config, path, self.config.gguf_type).to_dict()
        if out["fallbacks"]:
            log.warning(
                "GGUF: %d ternary tensors written as F16 (shape): %s",
                len(out["fallbacks"]),
                sorted(out["fallbacks"]),
            )
        atomic_write_json(ctx.run_dir / "gguf_export.json", out)
        return out

    # ---- report and gate --------------------------------------------------------------------
    def _finish(
        self,
        ctx: PhaseContext,
        source: ModelHandle,
        tok: Any,
        packed: Any,
        packed_dir: Path,
        base: dict[str, Any],
        post: dict[str, Any],
        after: dict[str, Any],
        calib: dict[str, Any],
        qat: dict[str, Any],
        perf: dict[str, float],
        gguf: dict[str, Any] | None,
        sizes: dict[str, float],
    ) -> PhaseResult:
        from agent_forge.eval.compare import suite_retention
        from agent_forge.eval.gates import GateThresholds, QualityGate

        e = ctx.config.eval
        n, seed = e.bootstrap_resamples, e.seed
        loss_ret = suite_retention(after["loss"], base["loss"], n, seed)
        acc_ret = suite_retention(after["tasks"], base["tasks"], n, seed)
        gate = QualityGate(GateThresholds(**e.gates.model_dump())).evaluate(
            "bitnet", loss_ret + acc_ret
        )
        metrics = report.phase_metrics(
            base, post, after, calib, qat, perf, sizes, packed, loss_ret[0], acc_ret[0], gate
        )
        ctx.log(metrics)
        meta_path = packed_dir / METADATA_FILE
        atomic_write_json(
            meta_path,
            describe(packed)
            | {
                "calibration": calib,
                "qat": qat,
                "sizes": sizes,
                "performance": perf,
                "gguf": gguf,
                "gate": gate.to_dict(),
                "metrics": metrics,
                "source": source.model_id,
                "keep": list(self.config.keep),
                "act_bits": self.config.act_bits,
                "kept_dtype": self.config.kept_dtype,
                "per_row": self.config.per_row,
            },
        )
        fp16 = load_packed(packed_dir, "dequantized", dtype=torch.float16)
        extra = {
            "compression_ratio": sizes["ratio"],
            "bits_per_weight": sizes["linear_bits_per_weight"],
            "quantization_bits": 1.58,
            "packed_path": str(packed_dir),
            "source_model": source.model_id,
            "qat_ran": qat["ran"],
            "gate_verdict": gate.verdict,
        }
        handle = ctx.save_model(fp16, "ternary_fp16", tokenizer=tok, metrics=metrics, extra=extra)
        gate_path = ctx.run_dir / "gate.json"
        atomic_write_json(gate_path, gate.to_dict())  # with its metrics as eval.checks results
        artifacts = {
            "packed_model": str(packed_dir),
            "quantization_metadata": str(meta_path),
            "gate": str(gate_path),
        }
        if gguf is not None:
            artifacts["gguf"] = gguf["path"]
            artifacts["gguf_export"] = str(ctx.run_dir / "gguf_export.json")
        error = None if gate.passed else gate.summary().replace("\n", ";")
        return PhaseResult(
            gate.passed, self.name, [handle], metrics, artifacts=artifacts, error=error
        )
