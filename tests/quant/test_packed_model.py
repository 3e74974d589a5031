from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from agent_forge.quant import swap_in, ternary_dequantize, ternary_quantize
from agent_forge.quant.packed_model import (
    METADATA_FILE,
    WEIGHTS_FILE,
    dequantize_state,
    load_packed,
    pack_model,
    read_packed,
    save_packed,
    tensor_file_bytes,
    ternary_module_names,
)
from tests.merging.conftest import tiny_cognate

IDS = torch.randint(0, 300, (2, 12), generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def model():
    return tiny_cognate(0).eval()


def test_ternary_names_follow_keep(model):
    names = ternary_module_names(model)
    assert len(names) == 4 * 7 + 3  # q k v o gate up down per layer; memory in, out, gate
    assert not any(k in n for n in names for k in ("lm_head", "embed", "halt_head"))
    assert "model.halt_head" in ternary_module_names(model, keep=("lm_head",))


@pytest.mark.parametrize("per_row", [False, True])
def test_pack_save_read_unpack_is_the_identical_ternary_tensor(model, tmp_path, per_row):
    packed = pack_model(model, per_row=per_row)
    save_packed(packed, tmp_path / "p", model.config)
    again = read_packed(tmp_path / "p")
    weights = dict(model.named_parameters())
    assert again.ternary_names() == packed.ternary_names()
    for name in packed.ternary_names():
        q_ref, s_ref = ternary_quantize(weights[name].detach(), per_row)
        q, s = again.ternary(name)
        assert torch.equal(q, q_ref) and q.dtype == torch.int8
        assert torch.equal(s, s_ref)
    assert again.aliases == {"lm_head.weight": "model.embed_tokens.weight"}  # tied: stored once
    with safe_open(str(tmp_path / "p" / WEIGHTS_FILE), framework="pt") as f:
        assert "lm_head.weight" not in set(f.keys())


def test_dequantized_and_ternary_loads_match_the_quantised_model(model, tmp_path):
    packed = pack_model(model, kept_dtype="fp32")
    save_packed(packed, tmp_path / "p", model.config)
    plain = load_packed(tmp_path / "p", "dequantized")
    for name in packed.ternary_names():
        q, s = ternary_quantize(dict(model.named_parameters())[name].detach())
        assert torch.equal(plain.state_dict()[name], ternary_dequantize(q, s))
    ternary = load_packed(tmp_path / "p", "ternary")
    reference = tiny_cognate(0).eval()
    swap_in(reference)  # BitLinear at strength 1: fake-quant in float
    with torch.no_grad():
        diff = (ternary(input_ids=IDS).logits - reference(input_ids=IDS).logits).abs()
    # Integer vs float sums differ by ~1e-7, which can move an activation across a rounding
    # boundary downstream: one 8-bit step (|x|max / 127) in a few places, not a different model
    # (one layer alone agrees to 1e-5: tests/quant/test_ternary.py).
    assert diff.mean() < 1e-3 and diff.max() < 0.05
    fp16 = load_packed(tmp_path / "p", "dequantized", dtype=torch.float16)
    assert next(fp16.parameters()).dtype == torch.float16


def test_int8_kept_tensors_are_within_half_a_step_and_smaller(model, tmp_path):
    fp16 = pack_model(model, kept_dtype="fp16")
    int8 = pack_model(model, kept_dtype="int8")
    emb = model.model.embed_tokens.weight.detach()
    got = dequantize_state(int8)["model.embed_tokens.weight"]
    step = emb.abs().amax(dim=1, keepdim=True) / 127
    assert ((got - emb).abs() <= step / 2 + 1e-7).all()
    assert int8.layout["model.embed_tokens.weight"]["kind"] == "int8"
    assert int8.layout["model.norm.weight"]["kind"] == "float"  # 1-D stays fp16
    assert int8.nbytes() < fp16.nbytes()
    save_packed(int8, tmp_path / "p8", model.config)
    save_packed(fp16, tmp_path / "p16", model.config)
    assert (tmp_path / "p8" / WEIGHTS_FILE).stat().st_size < (
        tmp_path / "p16" / WEIGHTS_FILE
    ).stat().st_size


def test_sizes_and_metadata_come_from_the_bytes(model, tmp_path):
    packed = pack_model(model)
    save_packed(packed, tmp_path / "p", model.config, metadata={"note": "x"})
    path = tmp_path / "p" / WEIGHTS_FILE
    spans = tensor_file_bytes(path)
    assert sum(spans.values()) == packed.nbytes() < path.stat().st_size
    for name in packed.ternary_names():
        n = torch.Size(packed.layout[name]["shape"]).numel()
        assert spans[f"{name}.trits"] == -(-n // 5)  # 5 trits per byte
    meta = json.loads((tmp_path / "p" / METADATA_FILE).read_text())
    assert meta["note"] == "x" and meta["quantization_bits"] == 1.58
    assert 1.6 <= meta["bits_per_weight_packed"] < 1.61
    assert 0.0 < meta["sparsity"] < 1.0


def test_bad_arguments_raise(model, tmp_path):
    with pytest.raises(ValueError, match="kept_dtype"):
        pack_model(model, kept_dtype="bf16")  # type: ignore[arg-type]
    save_packed(pack_model(model), tmp_path / "p", model.config)
    with pytest.raises(ValueError, match="mode"):
        load_packed(tmp_path / "p", "int4")  # type: ignore[arg-type]
    with pytest.raises(FileExistsError):
        save_packed(pack_model(model), tmp_path / "p", model.config)


def test_the_thought_head_stays_in_higher_precision():
    model = tiny_cognate(0, thought_mixing=True)
    names = ternary_module_names(model)
    assert any(n.startswith("thought_head") for n, _ in model.named_modules())
    assert not any("thought_head" in n or "halt_head" in n for n in names)
    packed = pack_model(model)
    assert all(packed.layout[n]["kind"] == "float" for n in packed.layout if "thought_head" in n)
