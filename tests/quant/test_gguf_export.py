from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch

from agent_forge.quant.gguf_export import export_gguf, ternary_type_fits
from agent_forge.quant.packed_model import pack_model
from tests.merging.conftest import tiny_cognate


@pytest.fixture(scope="module")
def model():
    # rows of 256 (hidden, memory) fit a TQ block; down_proj's rows of 384 do not
    return tiny_cognate(
        0, hidden_size=256, intermediate_size=384, num_hidden_layers=1, memory_dim=256
    ).eval()


@pytest.mark.parametrize("qtype", ["TQ1_0", "TQ2_0"])
def test_gguf_holds_the_trits_and_lists_the_fallbacks(model, tmp_path, qtype):
    packed = pack_model(model)
    out = export_gguf(packed, model.config, tmp_path / "m.gguf", qtype)
    assert out.fallbacks == {
        "model.layers.0.mlp.down_proj.weight": f"row length 384 is not a multiple of {qtype}'s "
        "block of 256"
    }
    reader = gguf.GGUFReader(tmp_path / "m.gguf")
    tensors = {t.name: t for t in reader.tensors}
    assert "lm_head.weight" not in tensors  # tied: written once, alias in the KV data
    assert set(tensors) == set(packed.layout) == set(out.tensor_types)
    assert out.file_bytes == (tmp_path / "m.gguf").stat().st_size
    ternary = [n for n, t in out.tensor_types.items() if t == qtype]
    assert len(ternary) == len(packed.ternary_names()) - 1
    for name in ternary:
        t = tensors[name]
        assert t.tensor_type == gguf.GGMLQuantizationType[qtype]
        assert [int(x) for x in t.shape] == packed.layout[name]["shape"][::-1]  # ggml: ne[0]=in
        q, scale = packed.ternary(name)
        deq = gguf.quants.dequantize(t.data, t.tensor_type)
        ref = (q.float() * scale).numpy()
        # the trits exactly; the scale in fp16 (relative error <= 2^-11)
        assert np.array_equal(np.sign(deq), np.sign(ref))
        assert np.allclose(deq, ref, rtol=2**-10, atol=0)
    down = tensors["model.layers.0.mlp.down_proj.weight"]
    assert down.tensor_type == gguf.GGMLQuantizationType.F16
    assert tensors["model.norm.weight"].tensor_type == gguf.GGMLQuantizationType.F32
    assert tensors["model.embed_tokens.weight"].tensor_type == gguf.GGMLQuantizationType.F16
    arch = reader.fields["general.architecture"]
    assert bytes(arch.parts[arch.data[0]]).decode() == "cognate"


def test_type_rules_and_bad_type(model, tmp_path):
    assert ternary_type_fits([10, 512], "TQ1_0") is None
    assert "not a multiple" in ternary_type_fits([10, 100], "TQ2_0")
    with pytest.raises(ValueError, match="TQ1_0 or TQ2_0"):
        export_gguf(pack_model(model), model.config, tmp_path / "x.gguf", "Q4_0")  # type: ignore[arg-type]


def test_gguf_of_a_per_row_model(model, tmp_path):
    packed = pack_model(model, per_row=True)
    export_gguf(packed, model.config, tmp_path / "r.gguf")
    t = next(
        t for t in gguf.GGUFReader(tmp_path / "r.gguf").tensors if t.name.endswith("q_proj.weight")
    )
    q, scale = packed.ternary(t.name)
    deq = gguf.quants.dequantize(t.data, t.tensor_type)
    assert np.allclose(deq, (q.float() * scale).numpy(), rtol=2**-10, atol=0)
    assert torch.unique(scale).numel() > 1  # one scale per row, each a block's absmax
