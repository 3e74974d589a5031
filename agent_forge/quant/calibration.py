"""Calibration of ternary quantisation on real inputs: each linear layer's output error when its
weights and activations are quantised (BitNet b1.58 absmean / absmax), measured on the inputs the
full-precision model actually feeds it, and the model's loss on the same samples.

Absmean scales need no data; what the samples tell is how much quantisation hurts, layer by layer
and in the loss, which decides whether quantisation-aware fine-tuning is needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agent_forge.eval.loss import window_loss
from agent_forge.quant.ternary import activation_quant, ternary_dequantize, ternary_quantize


@torch.no_grad()
def layer_errors(
    model: nn.Module,
    names: Sequence[str],
    samples: Tensor,
    per_row: bool = False,
    act_bits: int = 8,
    batch_size: int = 16,
) -> dict[str, float]:
    """Relative output error ||y_q - y|| / ||y|| of each named nn.Linear over `samples` (N, T):
    y = the layer's full-precision output, y_q = the same input through its quantised weight
    and `act_bits` activations. The model itself runs in full precision throughout."""
    sums = {n: [0.0, 0.0] for n in names}  # name -> [||y_q - y||^2, ||y||^2]
    hooks = []
    for name in names:
        lin = model.get_submodule(name)
        q, scale = ternary_quantize(lin.weight.detach().float(), per_row)
        w_q = ternary_dequantize(q, scale)

        def hook(
            mod: nn.Module, inp: tuple[Tensor, ...], out: Tensor, n: str = name, w: Tensor = w_q
        ) -> None:
            x = inp[0].float()
            y_q = F.linear(activation_quant(x, act_bits), w, mod.bias)
            sums[n][0] += float((y_q - out.float()).pow(2).sum())
            sums[n][1] += float(out.float().pow(2).sum())

        hooks.append(lin.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        for i in range(0, samples.size(0), batch_size):
            model(input_ids=samples[i : i + batch_size])
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return {n: (e / y) ** 0.5 if y > 0 else 0.0 for n, (e, y) in sums.items()}


def sample_loss(model: nn.Module, samples: Tensor, batch_size: int = 16) -> float:
    """Mean next-token cross-entropy over `samples` (N, T), every target token counted once: the
    held-out loss of `agent_forge.eval.loss` (one function for every loss the gates read)."""
    return window_loss(model, samples, batch_size)
