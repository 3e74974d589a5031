"""Measures of Quiet-STaR thoughts (Phase 3's coherence metrics) and the anti-theater comparison.

The spec names four coherence parts (semantic 0.30, logical 0.30, relevance 0.25, fluency 0.15)
without defining them; these are our definitions, each in [0, 1] per thought, from tensors the
thought pass already has (plain functions: no model calls here):

- semantic similarity: (1 + cos) / 2 of the mean input embedding of the thought's tokens and the
  mean embedding of the true continuation it is meant to help predict;
- logical consistency: agreement of the thoughts drawn at the same position: 1 - JS(p_a, p_b) / ln 2
  of their post-thought next-token distributions, averaged over the other thoughts there;
- relevance: 1 if the thought raised the log-likelihood of the true continuation above the base
  prediction (mixed vs no-thought), else 0;
- fluency: 1 - (mean per-token NLL of the thought under the model) / ln V, clipped to [0, 1].

The anti-theater comparison scores the same items with and without thoughts and reports paired
bootstrap CIs of the differences, and the correlation of a thought's reward with correctness.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from agent_forge.eval.ci import ci_for

COHERENCE_WEIGHTS = {"semantic": 0.30, "logical": 0.30, "relevance": 0.25, "fluency": 0.15}


@dataclass
class ThoughtQuality:
    """Per-thought scores, each (R, B, T) for R thoughts per position, and the positions that
    count (B, T)."""

    semantic: Tensor
    logical: Tensor
    relevance: Tensor
    fluency: Tensor
    valid: Tensor
    counted: Tensor

    def coherence(self) -> Tensor:
        w = COHERENCE_WEIGHTS
        return (
            w["semantic"] * self.semantic
            + w["logical"] * self.logical
            + w["relevance"] * self.relevance
            + w["fluency"] * self.fluency
        )

    def summary(self) -> dict[str, float]:
        """Means over the counted positions' thoughts (the spec's per-step metrics)."""
        mask = self.counted.expand_as(self.valid)
        n = int(mask.sum())

        def mean(x: Tensor) -> float:
            return float(x.float()[mask].mean()) if n else math.nan

        return {
            "thoughts_generated": n,
            "thoughts_valid": int(self.valid[mask].sum()),
            "validity_rate": mean(self.valid),
            "avg_coherence": mean(self.coherence()),
            "semantic_similarity": mean(self.semantic),
            "logical_consistency": mean(self.logical),
            "relevance_score": mean(self.relevance),
            "fluency_score": mean(self.fluency),
        }


def _js_agreement(logp: Tensor) -> Tensor:
    """(R, B, T, V) log-probs -> (R, B, T): mean over the other thoughts r' of 1 - JS / ln 2."""
    r = logp.shape[0]
    p = logp.exp()
    out = torch.zeros(logp.shape[:-1], dtype=torch.float32)
    for a in range(r):
        for b in range(r):
            if a == b:
                continue
            m_log = torch.logaddexp(logp[a], logp[b]) - math.log(2.0)
            js = 0.5 * ((p[a] * (logp[a] - m_log)).sum(-1) + (p[b] * (logp[b] - m_log)).sum(-1))
            out[a] += 1.0 - (js / math.log(2.0)).clamp(0, 1)
    return out / max(r - 1, 1)


@torch.no_grad()
def thought_quality(
    embed: Tensor,
    thoughts: Tensor,
    targets: Tensor,
    target_valid: Tensor,
    post_logprobs: Tensor,
    gain: Tensor,
    thought_nll: Tensor,
    valid: Tensor,
    counted: Tensor,
) -> ThoughtQuality:
    """embed (V, C) input embeddings; thoughts (R, B, T, L); targets (B, T, n) the true
    continuation ids with target_valid (B, T, n); post_logprobs (R, B, T, V) the post-thought
    distribution of the next token; gain (R, B, T) log-likelihood of the continuation with the
    thought minus without; thought_nll (R, B, T) mean NLL per thought token; valid (R, B, T)
    well-formed thoughts; counted (B, T) positions that count."""
    vocab = embed.shape[0]
    e = embed.float()
    t_emb = e[thoughts].mean(-2)  # (R, B, T, C)
    w = target_valid.float()[..., None]  # (B, T, n, 1)
    c_emb = (e[targets] * w).sum(-2) / w.sum(-2).clamp(min=1)  # (B, T, C)
    cos = torch.nn.functional.cosine_similarity(t_emb, c_emb[None].expand_as(t_emb), dim=-1)
    return ThoughtQuality(
        semantic=(1 + cos) / 2,
        logical=_js_agreement(post_logprobs.float()),
        relevance=(gain > 0).float(),
        fluency=(1 - thought_nll.float() / math.log(vocab)).clamp(0, 1),
        valid=valid,
        counted=counted & target_valid.any(-1),
    )


def _corr(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation (point-biserial when y is 0/1); None when either side is constant."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def anti_theater(
    items: dict[str, Sequence[float]],
    docs: dict[str, Sequence[float]] | None,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """With vs without thoughts on the same items (same model, same tokens), paired.

    items: per task item `correct_with`, `correct_without` (0/1, all answer tokens right under
    teacher forcing = greedy exact match), `nll_with`, `nll_without` (summed over the answer
    tokens), `tokens`, and `reward` (mean per answer token of the thought's log-likelihood gain).
    docs (optional): per held-out document `nll_with`, `nll_without`, `tokens`.
    Returns (point, low, high) with 95% CIs (`eval.ci`: Wilson for accuracy with/without, paired
    bootstrap for their difference, bootstrap over items for losses per token) of accuracy
    with/without and the gain, the loss per token with/without and the change, and
    corr(reward, correct_with)."""

    out: dict[str, Any] = {"items": len(items["correct_with"])}
    acc_with = ci_for("proportion", items["correct_with"])  # Wilson, as every accuracy
    acc_without = ci_for("proportion", items["correct_without"])
    pair = (items["correct_with"], items["correct_without"])
    gain = ci_for("paired_difference", *pair, n_resamples=n_resamples, seed=seed)
    out |= {"accuracy_with": acc_with, "accuracy_without": acc_without, "accuracy_gain": gain}
    out["reward_correctness_correlation"] = _corr(items["reward"], items["correct_with"])
    sources = [("answer", items)] + ([("doc", docs)] if docs else [])
    for name, d in sources:
        tokens = np.asarray(d["tokens"], dtype=np.float64)
        w, wo = np.asarray(d["nll_with"]), np.asarray(d["nll_without"])
        per_doc = {"with": w, "without": wo, "change": w - wo}  # change < 0: thoughts help
        for key, nll in per_doc.items():  # per token, bootstrap over items / documents
            ci = ci_for("loss", nll, tokens, n_resamples=n_resamples, seed=seed)
            out[f"{name}_loss_{key}"] = ci
    return out
