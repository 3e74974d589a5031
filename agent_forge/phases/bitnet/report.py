"""Phase 4's data, measurements and metric names (spec §Phase 4 metrics): the held-out suites, the
calibration windows and fine-tuning streams, sizes from file bytes. Latency and memory probes:
`agent_forge.eval.probes`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from agent_forge.config.bitnet_config import BitNetConfig
from agent_forge.errors import UserInputError
from agent_forge.eval.items import Suite
from agent_forge.eval.probes import bytes_on_disk
from agent_forge.eval.runner import EvalOptions, SuiteResult, evaluate_suite
from agent_forge.quant.packed_model import WEIGHTS_FILE, PackedModel, tensor_file_bytes

MIB = 1024 * 1024


def suites(data_dir: Path, c: BitNetConfig) -> dict[str, Suite]:
    """The test split's exact-match tasks and held-out loss documents (never calibration's)."""
    from agent_forge.eval.catalog import SuiteOptions, build_suite

    opts = SuiteOptions(
        data_dir=data_dir,
        levels=tuple(c.levels),
        per_level=c.per_level,
        max_new_tokens=c.max_new_tokens,
    )
    loss = build_suite("loss_test", opts)
    if c.loss_items is not None:
        loss.items = loss.items[: c.loss_items]
    return {"tasks": build_suite("tasks_test", opts), "loss": loss}


def score(
    model: Any, tok: Any, test: dict[str, Suite], opts: EvalOptions
) -> dict[str, SuiteResult]:
    return {k: evaluate_suite(model, tok, s, opts) for k, s in test.items()}


def streams(tok: Any, data_dir: Path, c: BitNetConfig) -> dict[str, torch.Tensor]:
    """calibration (N, T) windows and the fine-tuning validation stream from the selection
    split; the fine-tuning stream from the train split (corpus + examples at `levels`)."""
    from agent_forge.data import load_corpus, load_split
    from agent_forge.data.lm_text import encode_documents, format_example

    selection = load_corpus(data_dir, "selection") + [
        format_example(e) for e in load_split(data_dir, "selection")
    ]
    sel = encode_documents(tok, selection, c.seed)
    n = min(c.calibration_samples, sel.numel() // c.calibration_seq_len)
    if n < 1:
        raise UserInputError(
            f"the selection split has {sel.numel()} tokens, fewer than one "
            f"calibration window of {c.calibration_seq_len}"
        )
    train = load_corpus(data_dir, "train") + [
        format_example(e) for e in load_split(data_dir, "train") if e.level in c.levels
    ]
    return {
        "calibration": sel[: n * c.calibration_seq_len].view(n, c.calibration_seq_len),
        "train": encode_documents(tok, train, c.seed),
        "val": sel,
    }


def sizes(source_dir: Path, packed_dir: Path, ternary: list[str]) -> dict[str, float]:
    """Bytes on disk of what it takes to load each model: weight file + config.json (the packed
    file's header holds its layout; scales are tensors in it); and of the quantised linear
    layers alone (their spans in each file: the input's dtype vs trits + scales)."""
    original = source_dir / "model.safetensors"
    orig_spans = tensor_file_bytes(original)
    packed_spans = tensor_file_bytes(packed_dir / WEIGHTS_FILE)
    orig = bytes_on_disk(original) + bytes_on_disk(source_dir / "config.json")
    comp = bytes_on_disk(packed_dir / WEIGHTS_FILE) + bytes_on_disk(packed_dir / "config.json")
    lin_orig = sum(orig_spans[n] for n in ternary)
    weights = sum(math.prod(shape) for shape in ternary_shapes(original, ternary))
    lin_comp = sum(packed_spans[f"{n}.trits"] + packed_spans[f"{n}.scale"] for n in ternary)
    return {
        "original_bytes": orig,
        "compressed_bytes": comp,
        "ratio": orig / comp,
        "linear_original_bytes": lin_orig,
        "linear_compressed_bytes": lin_comp,
        "linear_ratio": lin_orig / lin_comp if lin_comp else math.nan,
        "linear_bits_per_weight": 8 * lin_comp / weights if weights else math.nan,
    }


def ppl(loss: float | None) -> float | None:
    return None if loss is None else math.exp(loss)


def ternary_shapes(path: Path, names: list[str]) -> list[list[int]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return [list(f.get_slice(n).get_shape()) for n in names]


def phase_metrics(
    base: dict[str, SuiteResult],
    post: dict[str, SuiteResult],
    after: dict[str, SuiteResult],
    calib: dict[str, Any],
    qat: dict[str, Any],
    perf: dict[str, float],
    sizes: dict[str, float],
    packed: PackedModel,
    loss_ret: Any,
    acc_ret: Any,
    gate: Any,
) -> dict[str, Any]:
    """The spec's Phase 4 metric names (and a few more), from the measurements above.

    pre / post / post_finetune: held-out test loss of the input, of the quantised model before
    fine-tuning, and of the packed model after it (None when no fine-tuning ran: nothing to
    measure). Recovery: the share of the perplexity lost to quantisation that fine-tuning won
    back. Accuracy retention: chance-adjusted, paired, with its 95% CI (None without signal)."""
    pre, mid, fin = (r["loss"].metrics["loss"].value for r in (base, post, after))
    ran = bool(qat["ran"])
    ft_ppl = ppl(fin) if ran else None
    recovery = None
    if ran and math.exp(mid) > math.exp(pre):
        recovery = (math.exp(mid) - math.exp(fin)) / (math.exp(mid) - math.exp(pre))
    acc_ci = acc_ret.ci95 or (None, None)
    loss_ci = loss_ret.ci95 or (None, None)
    return {
        "compression/original_size_mb": sizes["original_bytes"] / MIB,
        "compression/compressed_size_mb": sizes["compressed_bytes"] / MIB,
        "compression/compression_ratio": sizes["ratio"],
        "compression/linear_compression_ratio": sizes["linear_ratio"],
        "compression/linear_bits_per_weight": sizes["linear_bits_per_weight"],
        "compression/layers_compressed": len(packed.ternary_names()),
        "compression/sparsity_ratio": packed.sparsity(),
        "quality/pre_perplexity": ppl(pre),
        "quality/post_perplexity": ppl(mid),
        "quality/perplexity_degradation": math.exp(mid - pre) - 1.0,
        "quality/post_finetune_perplexity": ft_ppl,
        "quality/perplexity_recovery": recovery,
        "quality/final_perplexity": ppl(fin),
        "quality/loss_increase": loss_ret.value,
        "quality/loss_increase_ci_low": loss_ci[0],
        "quality/loss_increase_ci_high": loss_ci[1],
        "quality/accuracy_retention": acc_ret.value,
        "quality/accuracy_retention_ci_low": acc_ci[0],
        "quality/accuracy_retention_ci_high": acc_ci[1],
        "quality/accuracy_retention_note": acc_ret.reason,
        "quality/pre_accuracy": base["tasks"].metrics["exact_match"].value,
        "quality/final_accuracy": after["tasks"].metrics["exact_match"].value,
        "quality/calibration_loss_increase": calib["increase"],
        "performance/inference_speedup": perf["speedup"],
        "performance/memory_reduction": perf["memory_reduction"],
        "performance/fp32_latency_ms": 1000 * perf["fp32_latency_s"],
        "performance/ternary_latency_ms": 1000 * perf["ternary_latency_s"],
        "phase/quantization_bits": 1.58,
        "phase/calibration_samples": calib["samples"],
        "phase/finetuning_epochs": qat["epochs"],
        "phase/qat_ran": ran,
        "phase/gate_verdict": gate.verdict,
    }
