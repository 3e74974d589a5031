from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from agent_forge.quant import activation_quant, ternary_dequantize, ternary_quantize
from agent_forge.quant.calibration import layer_errors, sample_loss
from agent_forge.quant.packed_model import ternary_module_names
from agent_forge.training import evaluate_loss
from tests.merging.conftest import tiny_cognate

SAMPLES = torch.randint(0, 300, (6, 16), generator=torch.Generator().manual_seed(0))


def test_layer_error_of_one_layer_by_hand():
    model = tiny_cognate(0).eval()
    name = "model.layers.0.mlp.down_proj"
    seen = []
    layer = model.get_submodule(name)
    handle = layer.register_forward_hook(lambda m, i, o: seen.append((i[0], o)))
    with torch.no_grad():
        model(input_ids=SAMPLES)
    handle.remove()
    num = den = 0.0
    q, s = ternary_quantize(layer.weight.detach())
    for x, y in seen:  # every ACT step's call
        y_q = F.linear(activation_quant(x), ternary_dequantize(q, s))
        num, den = num + float((y_q - y).pow(2).sum()), den + float(y.pow(2).sum())
    errors = layer_errors(model, [name], SAMPLES, batch_size=6)
    assert errors[name] == pytest.approx((num / den) ** 0.5, rel=1e-5)


def test_layer_errors_cover_the_layers_and_leave_the_model_alone():
    model = tiny_cognate(0).eval()
    names = ternary_module_names(model)
    with torch.no_grad():
        before = model(input_ids=SAMPLES).logits
    errors = layer_errors(model, names, SAMPLES, per_row=True, batch_size=4)
    assert list(errors) == names and all(0.0 < e < 1.5 for e in errors.values())
    with torch.no_grad():
        assert torch.equal(model(input_ids=SAMPLES).logits, before)  # hooks removed
    assert not any(m._forward_hooks for m in model.modules())


def test_sample_loss_is_evaluate_loss_on_the_same_windows():
    model = tiny_cognate(0).eval()
    assert sample_loss(model, SAMPLES, batch_size=4) == pytest.approx(
        evaluate_loss(model, SAMPLES.flatten(), 16, max_batches=1, batch_size=16), rel=1e-6
    )
