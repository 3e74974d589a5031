from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from agent_forge.quant import (
    DEFAULT_KEEP,
    BitLinear,
    TernaryLinear,
    activation_quant,
    swap_in,
    swap_out,
    ternary_dequantize,
    ternary_quantize,
)
from tests.merging.conftest import tiny_cognate

EPS = 1e-5
W = torch.tensor([[0.1, -0.3, 0.2, 0.0], [-2.0, 1.0, 0.4, -0.6]])


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_per_tensor_absmean_by_hand():
    # mean|W| = (0.6 + 4.0) / 8 = 0.575; W / 0.575 = (0.17, -0.52, 0.35, 0 | -3.48, 1.74, 0.70,
    # -1.04) rounds and clips to (0, -1, 0, 0 | -1, 1, 1, -1).
    q, scale = ternary_quantize(W)
    assert q.dtype == torch.int8
    assert_close(scale, torch.tensor(0.575))
    assert torch.equal(q, torch.tensor([[0, -1, 0, 0], [-1, 1, 1, -1]], dtype=torch.int8))
    assert_close(ternary_dequantize(q, scale), 0.575 * q.float())


def test_per_row_absmean_by_hand():
    # Row means 0.6/4 = 0.15 and 4.0/4 = 1.0; row 0 / 0.15 = (0.67, -2, 1.33, 0) -> (1, -1, 1, 0),
    # row 1 / 1.0 = (-2, 1, 0.4, -0.6) -> (-1, 1, 0, -1). Row 0 is all but lost per tensor.
    q, scale = ternary_quantize(W, per_row=True)
    assert_close(scale, torch.tensor([[0.15], [1.0]]))
    assert torch.equal(q, torch.tensor([[1, -1, 1, 0], [-1, 1, 0, -1]], dtype=torch.int8))
    assert_close(
        ternary_dequantize(q, scale), torch.tensor([[0.15, -0.15, 0.15, 0.0]] + [[-1, 1, 0, -1]])
    )


def test_per_row_needs_a_matrix():
    with pytest.raises(ValueError, match="per_row"):
        ternary_quantize(torch.ones(3), per_row=True)


@pytest.mark.parametrize("per_row", [False, True])
def test_dequantise_error_bound(per_row):
    # With s' = scale + eps and q = round(w / s'): where |w| <= 1.5 s' nothing clips, so
    # |w / s' - q| <= 1/2 and |w - q s| = |(w - q s') + q eps| <= s'/2 + eps = s/2 + 1.5 eps.
    # Where |w| > 1.5 s' the value clips to sign(w) * s, so the error is exactly |w| - s.
    w = randn(64, 48) * torch.linspace(0.1, 3.0, 64).unsqueeze(1)  # rows of different scales
    q, scale = ternary_quantize(w, per_row=per_row, eps=EPS)
    err = (w - ternary_dequantize(q, scale)).abs()
    s = scale.expand_as(w)
    inside = w.abs() <= 1.5 * (s + EPS)
    assert inside.any() and (~inside).any()
    assert (err[inside] <= s[inside] / 2 + 1.5 * EPS + 1e-6).all()
    assert_close(err[~inside], w.abs()[~inside] - s[~inside])
    assert torch.equal(q[~inside], w[~inside].sign().to(torch.int8))


def test_only_ternary_values_and_zero_tensor():
    q, _ = ternary_quantize(randn(50, 50) * 100, per_row=True)
    assert set(q.unique().tolist()) == {-1, 0, 1}
    q, scale = ternary_quantize(torch.zeros(3, 4))  # eps keeps it finite: all zeros
    assert torch.equal(q, torch.zeros(3, 4, dtype=torch.int8)) and scale == 0


def test_activation_quant_by_hand():
    # absmax 1 -> scale 127: (127, -63.5, 31.75, 0.38) rounds (half to even) to (127, -64, 32, 0).
    x = torch.tensor([[1.0, -0.5, 0.25, 0.003], [0.0, 0.0, 0.0, 0.0]])
    expected = torch.tensor([[127.0, -64.0, 32.0, 0.0], [0.0, 0.0, 0.0, 0.0]]) / 127
    assert_close(activation_quant(x), expected)


@pytest.mark.parametrize("bits", [8, 4])
def test_activation_quant_round_trip_per_token(bits):
    # No clipping happens (|x| <= absmax), so rounding costs at most half a step, absmax / Qb / 2,
    # and every output sits on that token's grid k * absmax / Qb.
    qb = 2 ** (bits - 1) - 1
    x = randn(3, 5, 16) * torch.logspace(-2, 2, 5).view(1, 5, 1)  # tokens of very different size
    y = activation_quant(x, bits)
    absmax = x.abs().amax(-1, keepdim=True)
    assert ((y - x).abs() <= absmax / qb / 2 * (1 + 1e-5)).all()
    grid = y * qb / absmax
    assert_close(grid, grid.round())
    assert grid.round().abs().max() <= qb


def test_bitlinear_strength_zero_is_nn_linear_exactly():
    linear = nn.Linear(16, 8)
    bit = BitLinear.from_linear(linear, strength=0.0)
    x = randn(2, 3, 16)
    assert torch.equal(bit(x), linear(x))


@pytest.mark.parametrize("per_row", [False, True])
def test_bitlinear_strength_one_is_quantised_linear(per_row):
    bit = BitLinear(16, 8, per_row=per_row)
    x = randn(2, 3, 16)
    deq = ternary_dequantize(*ternary_quantize(bit.weight.detach(), per_row=per_row))
    assert torch.equal(bit(x), F.linear(activation_quant(x), deq, bit.bias))


def test_bitlinear_half_strength_blends():
    bit = BitLinear(16, 8, strength=0.5)
    x = randn(4, 16)
    w = bit.weight.detach()
    deq = ternary_dequantize(*ternary_quantize(w))
    xq = activation_quant(x)
    assert_close(bit(x), F.linear(x + 0.5 * (xq - x), w + 0.5 * (deq - w), bit.bias))


def test_bitlinear_strength_out_of_range_raises():
    with pytest.raises(ValueError, match="strength"):
        BitLinear(4, 4, strength=1.5)


def test_ste_gradients_reach_the_latent_weight():
    # The STE treats both quantisers as the identity in the backward pass, so the gradients equal
    # those of a plain F.linear evaluated at the quantised point:
    # dW = g^T xq, dx = g deq, db = sum g.
    bit = BitLinear(16, 8)
    x = randn(5, 16).requires_grad_()
    g = randn(5, 8, seed=1)
    (bit(x) * g).sum().backward()

    wd = ternary_dequantize(*ternary_quantize(bit.weight.detach())).requires_grad_()
    xq = activation_quant(x.detach()).requires_grad_()
    bias = bit.bias.detach().clone().requires_grad_()
    (F.linear(xq, wd, bias) * g).sum().backward()

    assert bit.weight.grad.abs().sum() > 0
    assert_close(bit.weight.grad, wd.grad)
    assert_close(bit.weight.grad, g.T @ xq.detach())
    assert_close(x.grad, xq.grad)
    assert_close(bit.bias.grad, bias.grad)


def test_swap_in_and_out_on_tiny_cognate():
    model = tiny_cognate(0).eval()
    ids = torch.randint(0, 300, (2, 8), generator=torch.Generator().manual_seed(0))
    params = dict(model.named_parameters())
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    lm_head, embed = model.lm_head, model.model.embed_tokens
    with torch.no_grad():
        before = model(input_ids=ids).logits

    swapped = swap_in(model)
    assert swapped == [n for n in linears if not any(k in n for k in DEFAULT_KEEP)]
    assert "model.halt_head" in linears and "model.halt_head" not in swapped
    assert all(isinstance(model.get_submodule(n), BitLinear) for n in swapped)
    assert model.lm_head is lm_head and type(lm_head) is nn.Linear
    assert model.model.embed_tokens is embed
    assert all(p is params[n] for n, p in model.named_parameters())  # shared, not copied
    out = model(input_ids=ids, labels=ids)
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.loss)
    assert not torch.allclose(out.logits, before)
    out.loss.backward()  # QAT-ready: the STE reaches a swapped layer's latent weight
    assert model.get_submodule(swapped[0]).weight.grad.abs().sum() > 0

    assert swap_out(model) == swapped
    assert all(type(model.get_submodule(n)) is nn.Linear for n in linears)
    assert all(p is params[n] for n, p in model.named_parameters())
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, before)


def test_swap_in_is_generic_and_leaves_linear_subclasses_alone():
    class Wrapped(nn.Linear):
        pass

    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), nn.Linear(4, 2)), Wrapped(2, 2))
    model.add_module("head", nn.Linear(2, 2))
    assert swap_in(model, keep=("head",), per_row=True, strength=0.25) == ["0", "1.1"]
    assert model[1][1].per_row and model[1][1].strength == 0.25
    assert type(model[2]) is Wrapped and type(model.head) is nn.Linear
    assert swap_in(model) == ["head"]  # already-swapped layers are not wrapped twice
    assert swap_out(model) == ["0", "1.1", "head"]


@pytest.mark.parametrize("per_row", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_ternary_linear_is_bitlinear_at_full_strength_in_integers(per_row, bias):
    bit = BitLinear(48, 24, bias, per_row=per_row)
    with torch.no_grad():
        bit.weight.copy_(randn(24, 48, seed=1))
        if bias:
            bit.bias.copy_(randn(24, seed=2))
    q, scale = ternary_quantize(bit.weight.detach(), per_row)
    inference = TernaryLinear(q, scale, bit.bias)
    assert inference.qt.dtype == torch.int8 and inference.qt.shape == (48, 24)
    x = randn(2, 5, 48, seed=3)
    with torch.no_grad():
        assert_close(inference(x), bit(x), rtol=1e-5, atol=1e-5)
        assert_close(inference(x[0, :1]), bit(x[0, :1]), rtol=1e-5, atol=1e-5)  # one token


def test_ternary_linear_integer_product_is_exact():
    # (x_int @ q^T) must be the exact integer sum: here 127 * 1 * 48 = 6096 per output.
    q = torch.ones(3, 48, dtype=torch.int8)
    layer = TernaryLinear(q, torch.tensor(0.5), None)
    x = torch.full((1, 48), 2.0)  # absmax 2 -> every activation quantises to 127, step 2/127
    assert_close(layer(x), torch.full((1, 3), 6096 * (2 / 127) * 0.5))


def test_ternary_linear_rejects_wider_activations():
    with pytest.raises(ValueError, match="act_bits 16"):
        TernaryLinear(torch.zeros(2, 2, dtype=torch.int8), torch.tensor(1.0), None, act_bits=16)
