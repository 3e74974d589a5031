"""Small statistics for honest scores: Wilson intervals, a majority-answer chance rate, and the
cross-entropy of a unigram model (the baseline a trained LM must beat)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import torch


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% (z=1.96) Wilson score interval for a binomial proportion; (0, 1) when n == 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact ends, not 1e-17 rounding
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


def majority_rate(answers: Sequence[str]) -> float:
    """Accuracy of always answering the most common answer: the chance level of a task set."""
    if not answers:
        return 0.0
    return Counter(answers).most_common(1)[0][1] / len(answers)


def unigram_loss(train_tokens: torch.Tensor, val_tokens: torch.Tensor, vocab_size: int) -> float:
    """Mean next-token cross-entropy (nats) of add-one-smoothed unigram frequencies from
    `train_tokens`, on the targets of `val_tokens` (all but its first token)."""
    counts = torch.bincount(train_tokens.flatten().long(), minlength=vocab_size).double() + 1.0
    logp = torch.log(counts / counts.sum())
    return float(-logp[val_tokens.flatten()[1:].long()].mean())
