"""Phase 4 BitNet through the real CLI on a real (small) Phase 1 model: calibration, a forced QAT
Ray Train job whose quantisation strength ramps, the packed model and its loader, the FP16
hand-off, GGUF re-read with gguf's reader, the spec's metrics, and the gate failing by numbers."""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import pytest
import torch
from pydantic import ValidationError
from safetensors import safe_open

from agent_forge.config.bitnet_config import BitNetConfig
from agent_forge.core.registry import ModelRegistry
from agent_forge.quant import ternary_quantize
from agent_forge.quant.packed_model import (
    METADATA_FILE,
    dequantize_state,
    pack_model,
    read_packed,
    save_packed,
)
from tests.support import phase_runs
from tests.support.phase_runs import BN_SMALL, copy_home, reasoning_model, run_cli, sets

EVAL_SMALL = [*phase_runs.EVAL_SMALL, "--set", "handoffs=[]"]
WIDE_GATE = ["--set", 'eval.gates.max_loss_increase={"bitnet": 10.0}']  # wiring, not quality
SPEC_METRICS = {
    "compression/original_size_mb",
    "compression/compressed_size_mb",
    "compression/compression_ratio",
    "compression/layers_compressed",
    "compression/sparsity_ratio",
    "quality/pre_perplexity",
    "quality/post_perplexity",
    "quality/perplexity_degradation",
    "quality/post_finetune_perplexity",
    "quality/perplexity_recovery",
    "quality/accuracy_retention",
    "performance/inference_speedup",
    "performance/memory_reduction",
    "phase/quantization_bits",
    "phase/calibration_samples",
    "phase/finetuning_epochs",
    "phase/duration_seconds",
}


def _input_id(home: Path) -> str:
    return reasoning_model(home)["model_id"]


@pytest.fixture(scope="module")
def bn_home(small_pipeline, tmp_path_factory) -> Path:
    return copy_home(small_pipeline, tmp_path_factory, "bitnet")


@pytest.mark.ray
@pytest.mark.slow
def test_bitnet_quantises_fine_tunes_packs_and_hands_on_fp16(small_pipeline, bn_home):
    """Phase 4 of the shared small run (BN_SMALL, a wide gate): its input is Phase 3's output."""
    report = small_pipeline[1]
    assert report["results"]["bitnet"]["success"], report
    sid = report["session_id"]
    reg = ModelRegistry(bn_home / "registry.db")
    (out,) = reg.list_models(session_id=sid, phase="bitnet")
    md = out["metadata"]
    assert md["compression_ratio"] > 1 and 1.6 <= md["bits_per_weight"] < 1.7  # -> curriculum
    metrics = {m["key"]: m["value"] for m in reg.get_metrics(sid, phase="bitnet")}
    assert SPEC_METRICS <= set(metrics)
    assert metrics["phase/quantization_bits"] == 1.58 and metrics["phase/qat_ran"] == 1
    assert metrics["phase/calibration_samples"] == 16
    assert metrics["compression/layers_compressed"] == 31  # 4 x 7 + memory in/out/gate
    assert metrics["quality/post_finetune_perplexity"] > 1

    # the forced QAT ran as one Ray Train job, its strength ramping linearly over 4 steps
    run_dir = bn_home / "sessions" / sid / "bitnet"
    meta = json.loads((Path(md["packed_path"]) / METADATA_FILE).read_text())
    assert meta["qat"]["ran"] and meta["qat"]["job"] == f"{sid}-bitnet-qat"
    assert meta["qat"]["strength"] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0]
    calib = meta["calibration"]
    assert calib["increase"] > 0 and len(calib["layer_relative_error"]) == 31
    strength = sorted(
        (m["step"], m["value"])
        for m in reg.get_metrics(sid, phase="bitnet")
        if m["key"] == "qat/strength"
    )
    assert [v for _, v in strength] == meta["qat"]["strength"]

    # the hand-off is the packed model dequantised, stored in fp16
    packed = read_packed(md["packed_path"])
    deq = dequantize_state(packed, torch.float16)
    with safe_open(str(Path(out["path"]) / "model.safetensors"), framework="pt") as f:
        for name in packed.ternary_names():
            assert torch.equal(f.get_tensor(name), deq[name])
    # GGUF: re-read; the tiny model's rows of 128 / 384 fall back to F16, memory.gate's 256 fit
    export = json.loads((run_dir / "gguf_export.json").read_text())
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(run_dir / "model.gguf").tensors}
    assert types == export["tensor_types"]
    assert types["model.memory.gate.weight"] == "TQ1_0"
    assert set(export["fallbacks"]) == set(packed.ternary_names()) - {"model.memory.gate.weight"}


@pytest.mark.ray
@pytest.mark.slow
def test_the_gate_fails_by_its_numbers_without_qat(bn_home):
    values = BN_SMALL | {"qat": "never"}
    code, report = run_cli(
        bn_home,
        "--phase",
        "bitnet",
        "--input",
        _input_id(bn_home),
        *EVAL_SMALL,
        "--set",
        'eval.gates.max_loss_increase={"bitnet": 0.0}',
        *sets("bitnet", values),
    )
    assert code == 1 and report["failed_phase"] == "bitnet", report
    assert "loss increase" in report["error"] and "need <= 0.000" in report["error"]
    reg = ModelRegistry(bn_home / "registry.db")
    assert not reg.list_models(session_id=report["session_id"], phase="bitnet")


@pytest.mark.ray
@pytest.mark.slow  # the session's small Phase 1 run
def test_pack_unpack_is_identity_on_the_real_model_weights(small_pipeline, tmp_path):
    from transformers import AutoModelForCausalLM

    home = small_pipeline[0]
    reg = ModelRegistry(home / "registry.db")
    model = AutoModelForCausalLM.from_pretrained(reg.get_model(_input_id(home))["path"])
    save_packed(pack_model(model), tmp_path / "p", model.config)
    packed = read_packed(tmp_path / "p")
    weights = dict(model.named_parameters())
    assert len(packed.ternary_names()) == 31
    for name in packed.ternary_names():
        q, scale = ternary_quantize(weights[name].detach())
        got_q, got_scale = packed.ternary(name)
        assert torch.equal(got_q, q) and torch.equal(got_scale, scale)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("qat_steps", 0),
        ("kept_dtype", "bf16"),
        ("act_bits", 16),
        ("levels", [11]),
        ("qat", "sometimes"),
        ("unknown_knob", 1),
    ],
)
def test_bad_config_values_name_the_key(key, value):
    with pytest.raises(ValidationError, match=key):
        BitNetConfig(**{key: value})


def test_warmup_longer_than_training_is_an_error():
    with pytest.raises(ValidationError, match="qat_strength_warmup_steps"):
        BitNetConfig(qat_steps=10, qat_strength_warmup_steps=20)


@pytest.mark.ray
@pytest.mark.slow  # the session's small Phase 1 run
def test_qat_loop_ramps_strength_and_resumes_to_the_same_weights(small_pipeline):
    """The worker body without Ray: a run 'killed' after its first checkpoint and resumed from
    it ends with the weights of a run that never stopped."""
    from agent_forge.config.schema import RayTrainScalingConfig
    from agent_forge.core.contracts import ModelHandle
    from agent_forge.phases.bitnet.jobs import qat_body, qat_inputs
    from agent_forge.runtime.jobs import JobSpec, ModelSource, run_worker
    from agent_forge.runtime.train import ListReporter

    row = ModelRegistry(small_pipeline[0] / "registry.db").get_model(_input_id(small_pipeline[0]))
    start = ModelHandle(row["model_id"], Path(row["path"]), row["metadata"])
    tokens = torch.randint(0, 100, (2000,), generator=torch.Generator().manual_seed(0))
    c = BitNetConfig(
        qat_steps=4,
        qat_strength_warmup_steps=3,
        qat_lr_warmup_steps=1,
        qat_batch_size=2,
        qat_seq_len=16,
        qat_eval_every=2,
        qat_checkpoint_every=2,
    )
    spec = JobSpec(
        "qat",
        qat_body,
        ModelSource.of(start),
        qat_inputs(c, (tokens, tokens)),
        c.seed,
        RayTrainScalingConfig(),
        "unused",
        "fp32",
    )
    lc = {"spec": spec}  # what Ray Train hands the worker entry

    whole = ListReporter()
    run_worker(lc, whole, None)
    steps = [r for m in whole.metrics for r in m["steps"]]
    assert [r["qat/strength"] for r in steps] == [1 / 3, 2 / 3, 1.0, 1.0]

    class Dies(ListReporter):
        def report(self, metrics, state=None, extra=None):
            super().report(metrics, state, extra)
            if state is not None:
                raise RuntimeError("killed after the first checkpoint")

    dies = Dies()
    with pytest.raises(RuntimeError, match="killed"):
        run_worker(lc, dies, None)
    resumed = ListReporter()
    out = run_worker(lc, resumed, dies.latest_state())
    assert out["resumed_from_step"] == 2
    assert [r["step"] for m in resumed.metrics for r in m["steps"]] == [2, 3]
    a, b = whole.latest_state().state, resumed.latest_state().state
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("model."))
