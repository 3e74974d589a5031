"""BitNet b1.58 ternary quantisation: absmean weights, absmax activations, BitLinear with the STE.

Ma et al. 2024, "The Era of 1-bit LLMs: All Large Language Models are in 1.58 Bits" (§2), and the
quantisation-strength warm-up of Hugging Face's "Fine-tuning LLMs to 1.58bit" (2024).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Kept in higher precision by default: embeddings and the (tied) LM head, as in the paper, and
# Cognate's two small gating heads (ACT's halt_head, Quiet-STaR's thought_head mixing MLP): a
# few thousand weights feeding a sigmoid gate; ternarising them would save kilobytes.
DEFAULT_KEEP = ("embed_tokens", "lm_head", "halt_head", "thought_head")


def ternary_quantize(w: Tensor, per_row: bool = False, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Absmean quantisation: scale = mean|w|, q = clamp(round(w / (scale + eps)), -1, 1) as int8.

    The scale is a 0-d tensor, or with `per_row` one per output row, shape (out, 1, ...) so that
    `q * scale` broadcasts. `round` is torch's (half to even), as in the BitNet reference code;
    eps keeps an all-zero tensor (or row) from dividing by zero and then quantises it to 0.
    """
    a = w.abs()
    if per_row:
        if w.dim() < 2:
            raise ValueError(f"per_row needs a weight with >= 2 dims, got shape {tuple(w.shape)}")
        scale = a.flatten(1).mean(1).view(-1, *[1] * (w.dim() - 1))  # (out, 1)
    else:
        scale = a.mean()
    q = (w / (scale + eps)).round().clamp(-1, 1).to(torch.int8)
    return q, scale


def ternary_dequantize(q: Tensor, scale: Tensor) -> Tensor:
    """q * scale in the scale's dtype: the weight BitLinear actually multiplies with."""
    return q.to(scale.dtype) * scale


def activation_quant(x: Tensor, bits: int = 8, eps: float = 1e-5) -> Tensor:
    """Per-token absmax fake-quant: round x to signed `bits`-bit integers over the last dim, and
    back.

    Qb = 2^(bits-1) - 1 (127 for 8 bits); x -> round(x * Qb / absmax) / (Qb / absmax). No value
    clips, since |x| <= absmax; the clamp to [-Qb-1, Qb] only states the integer range. eps
    (clamping absmax from below) keeps all-zero tokens finite.
    """
    if bits < 2:
        raise ValueError(f"activation_quant needs bits >= 2, got {bits}")
    qb = 2 ** (bits - 1) - 1
    scale = qb / x.abs().amax(dim=-1, keepdim=True).clamp(min=eps)  # (..., 1)
    return (x * scale).round().clamp(-qb - 1, qb) / scale


def _toward(x: Tensor, target: Tensor, strength: float) -> Tensor:
    """x + strength * (target - x) in value, with gradient identity to x (straight-through).

    Written as value.detach() + (x - x.detach()) rather than x + (d - x).detach(): the same
    gradient, but the forward value is bit-exact at the endpoints (strength 0 gives x, 1 gives
    target), where x + (target - x) can differ from target by a rounding error.
    """
    if strength >= 1.0:
        value = target
    else:
        value = x + strength * (target - x)
    return value.detach() + (x - x.detach())


class BitLinear(nn.Linear):
    """nn.Linear whose forward uses ternary weights and `act_bits`-bit activations (fake-quant).

    The latent full-precision weight stays the Parameter that trains; the straight-through
    estimator passes gradients to it (and to the input) as if quantisation were the identity.
    `strength` in [0, 1] blends full precision (0: exactly nn.Linear) and fully quantised (1)
    weights and activations, for a warm-up of the quantisation. The bias is not quantised.
    Unlike the paper's BitLinear there is no LayerNorm before the activation quantiser: the
    model's own norms stay where they are, so swapping changes nothing but the quantisation.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        per_row: bool = False,
        strength: float = 1.0,
        act_bits: int = 8,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        self.per_row = per_row
        self.strength = strength
        self.act_bits = act_bits

    @property
    def strength(self) -> float:
        return self._strength

    @strength.setter
    def strength(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"BitLinear strength must be in [0, 1], got {value}")
        self._strength = float(value)

    def quantized_weight(self) -> Tensor:
        """The dequantised ternary weight (no gradient): what strength 1 multiplies with."""
        q, scale = ternary_quantize(self.weight.detach(), self.per_row)
        return ternary_dequantize(q, scale)

    def forward(self, x: Tensor) -> Tensor:
        if self.strength == 0.0:
            return F.linear(x, self.weight, self.bias)
        w = _toward(self.weight, self.quantized_weight(), self.strength)
        x = _toward(x, activation_quant(x.detach(), self.act_bits), self.strength)
        return F.linear(x, w, self.bias)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, per_row={self.per_row}, "
            f"strength={self.strength}, act_bits={self.act_bits}"
        )

    @classmethod
    def from_linear(cls, linear: nn.Linear, **kwargs: Any) -> BitLinear:
        """A BitLinear sharing `linear`'s weight and bias Parameters (no copy, no new init)."""
        has_bias = linear.bias is not None
        new = cls(linear.in_features, linear.out_features, has_bias, device="meta", **kwargs)
        new.weight, new.bias = linear.weight, linear.bias
        return new.train(linear.training)


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child, module)


def swap_in(
    model: nn.Module,
    keep: Sequence[str] = DEFAULT_KEEP,
    per_row: bool = False,
    **kwargs: Any,
) -> list[str]:
    """Replace each plain nn.Linear whose qualified name contains no `keep` substring by a
    BitLinear.

    The BitLinear shares the Linear's Parameters, so optimisers and tied weights see the same
    tensors. Only modules of type exactly nn.Linear are swapped: a subclass (a LoRA wrapper, say)
    has its own forward that replacing would drop. `kwargs` go to BitLinear (strength, act_bits).
    Returns the swapped names, in module order.
    """
    names = [
        name
        for name, m in model.named_modules()
        if name and type(m) is nn.Linear and not any(k in name for k in keep)
    ]
    for name in names:
        linear = model.get_submodule(name)
        _replace(model, name, BitLinear.from_linear(linear, per_row=per_row, **kwargs))
    return names


def swap_out(model: nn.Module) -> list[str]:
    """Put a plain nn.Linear (same Parameters) back for every BitLinear; returns their names."""
    names = [name for name, m in model.named_modules() if name and isinstance(m, BitLinear)]
    for name in names:
        bit = model.get_submodule(name)
        linear = nn.Linear(bit.in_features, bit.out_features, bit.bias is not None, device="meta")
        linear.weight, linear.bias = bit.weight, bit.bias
        _replace(model, name, linear.train(bit.training))
    return names


class TernaryLinear(nn.Module):
    """Inference-only linear layer over stored ternary weights: int8 {-1, 0, 1} and their scale.

    Activations are quantised per token to `act_bits`-bit integers and multiplied with the trits
    in integer arithmetic (`torch._int_mm`, int8 x int8 -> int32) where that kernel exists, then
    rescaled: y = (x_int @ q^T) * (absmax / Qb) * scale + bias. This is BitLinear at strength 1
    computed in integers (equal up to float rounding); the weights stay 1 byte each in memory.
    """

    def __init__(self, q: Tensor, scale: Tensor, bias: Tensor | None, act_bits: int = 8) -> None:
        super().__init__()
        if act_bits > 8:
            raise ValueError(f"TernaryLinear multiplies int8 activations; act_bits {act_bits} > 8")
        self.out_features, self.in_features = q.shape
        self.act_bits = act_bits
        self.register_buffer("qt", q.to(torch.int8).t().contiguous())  # (in, out)
        self.register_buffer("scale", scale.detach().float().reshape(-1))  # (1,) or (out,)
        self.register_buffer("bias", None if bias is None else bias.detach().float())

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features).float()  # (M, in)
        qb = 2 ** (self.act_bits - 1) - 1
        s = qb / x2.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)  # (M, 1), as activation_quant
        xi = (x2 * s).round().clamp(-qb - 1, qb).to(torch.int8)
        y = _int_matmul(xi, self.qt).float() / s * self.scale  # (M, out)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, ternary"


def _int_matmul(a: Tensor, b: Tensor) -> Tensor:
    """int8 (M, K) @ int8 (K, N) -> int32, with torch's integer kernel when it takes the shapes
    (CUDA needs M > 16 and K, N multiples of 8); else a float matmul, exact while the sums stay
    below 2^24 (K < 2^24 / 128 = 131072)."""
    try:
        return torch._int_mm(a, b)
    except RuntimeError:
        return (a.float() @ b.float()).round().to(torch.int32)
