"""EvoMerge fitness: measured quality, plus speed and memory only where shapes differ.

SPEC_NOTES Phase 2 / correction 5: fitness combines perplexity, accuracy, speed and memory
(weights 0.4 / 0.3 / 0.2 / 0.1, from config). Quality terms come from held-out outputs; speed and
memory are ratios to the parents computed from the state dict (per-token matmul work and bytes),
so the fitness of a recipe is deterministic and same-shape merges all get 1.0 for both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class FitnessWeights:
    perplexity: float = 0.4
    accuracy: float = 0.3
    speed: float = 0.2
    memory: float = 0.1


def matmul_params(sd: dict[str, Tensor]) -> int:
    """Multiply-adds per token, up to a constant: every 2-D weight, the tied LM head included
    (an embedding lookup is not a matmul, but the head that shares it is)."""
    return sum(t.numel() for k, t in sd.items() if t.dim() == 2 and "embed_tokens" not in k)


def unique_bytes(sd: dict[str, Tensor]) -> int:
    """Bytes of the distinct tensors (a tied head counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for t in sd.values():
        tag = (t.untyped_storage().data_ptr(), t.storage_offset())
        if tag not in seen:
            seen.add(tag)
            total += t.numel() * t.element_size()
    return total


def fitness_terms(
    loss: float,
    accuracy: float,
    vocab_size: int,
    speed_ratio: float = 1.0,
    memory_ratio: float = 1.0,
) -> dict[str, float]:
    """Each term in [0, 1]: perplexity = 1 - loss / ln(vocab) (0 = guessing uniformly),
    accuracy as measured, speed and memory = min(1, parent / candidate) (1 = no worse)."""
    uniform = math.log(vocab_size)
    return {
        "perplexity": max(0.0, 1.0 - loss / uniform) if math.isfinite(loss) else 0.0,
        "accuracy": float(accuracy),
        "speed": min(1.0, float(speed_ratio)),
        "memory": min(1.0, float(memory_ratio)),
    }


def combine(terms: dict[str, float], weights: FitnessWeights) -> float:
    return sum(getattr(weights, k) * v for k, v in terms.items())
