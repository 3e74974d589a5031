"""KL divergence of a model's next-token distribution from a reference model's, on probe texts.

KL(P_ref || P_model) = sum_v P_ref(v) (log P_ref(v) - log P_model(v)) at every real position,
averaged over positions (padding excluded). Used by compression gates and prompt baking: it is 0
for the same model and grows as the candidate's predictions drift from the reference's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from agent_forge.eval.loss import pad_right


@dataclass
class KLResult:
    """Per-text summed KL (nats) and position counts; `mean` is position-weighted."""

    kl: list[float]
    positions: list[int]

    @property
    def mean(self) -> float:
        return sum(self.kl) / max(sum(self.positions), 1)


@torch.no_grad()
def next_token_kl(
    model: Any,
    reference: Any,
    tokenizer: Any,
    texts: Sequence[str],
    batch_size: int = 16,
    max_length: int = 256,
) -> KLResult:
    """KL(reference || model) of the next-token distributions over each text (after <eos>),
    truncated to `max_length` tokens. Both models must share the tokenizer's vocabulary."""
    if model.config.vocab_size != reference.config.vocab_size:
        raise ValueError(
            f"vocab sizes differ: model {model.config.vocab_size}, "
            f"reference {reference.config.vocab_size}"
        )
    states = model.training, reference.training
    model.eval()
    reference.eval()
    eos = tokenizer.eos_token_id
    rows = [
        [eos, *ids][:max_length]
        for ids in tokenizer(list(texts), add_special_tokens=False).input_ids
    ]
    kl: list[float] = []
    positions: list[int] = []
    try:
        for i in range(0, len(rows), batch_size):
            chunk = rows[i : i + batch_size]
            ids, mask = pad_right(chunk)
            logp = F.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), -1)
            ref = F.log_softmax(reference(input_ids=ids, attention_mask=mask).logits.float(), -1)
            per_pos = (ref.exp() * (ref - logp)).sum(-1) * mask  # (B, T)
            kl += [float(x) for x in per_pos.sum(1)]
            positions += [int(x) for x in mask.sum(1)]
    finally:
        model.train(states[0])
        reference.train(states[1])
    return KLResult(kl, positions)
