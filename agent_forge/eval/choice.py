"""Multiple choice by log-likelihood, the lm-evaluation-harness convention (Gao et al. 2021).

Each choice is scored as log P(continuation | context). `acc` takes the choice with the largest
summed log-likelihood, `acc_norm` the largest log-likelihood per character of the continuation
(lm-eval's byte-length normalisation), `mc2` the probability mass on the true choices.
Context and continuation are split as lm-eval does: trailing spaces of the context move to the
continuation, and the continuation's tokens are those of context+continuation after the context's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent_forge.eval.items import ChoiceItem
from agent_forge.eval.loss import token_nll


@dataclass
class ChoiceScore:
    """Per-choice summed log-likelihood, continuation length in characters and in tokens."""

    logprobs: list[float]
    chars: list[int]
    tokens: list[int]


def encode_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids); the context starts after the <eos> separator."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    ctx = tokenizer(context, add_special_tokens=False).input_ids
    whole = tokenizer(context + continuation, add_special_tokens=False).input_ids
    if whole[: len(ctx)] != ctx:  # BPE merged across the boundary: encode apart instead
        return [tokenizer.eos_token_id, *ctx], tokenizer(
            continuation, add_special_tokens=False
        ).input_ids
    return [tokenizer.eos_token_id, *ctx], whole[len(ctx) :]


def choice_logprobs(
    model: Any,
    tokenizer: Any,
    items: Sequence[ChoiceItem],
    batch_size: int = 16,
    max_length: int | None = None,
) -> list[ChoiceScore]:
    """Log-likelihood of every choice of every item; a context too long for the window loses
    its oldest tokens (the continuation is always scored whole)."""
    length = max_length or int(model.config.max_position_embeddings)
    rows: list[list[int]] = []
    starts: list[int] = []  # index in the row of the first continuation token
    for item in items:
        for ctx_text, cont_text in zip(item.contexts, item.continuations, strict=True):
            ctx, cont = encode_pair(tokenizer, ctx_text, cont_text)
            if not 0 < len(cont) < length:
                raise ValueError(
                    f"item {item.id}: a choice has {len(cont)} tokens (window {length})"
                )
            row = (ctx + cont)[-length:]
            rows.append(row)
            starts.append(len(row) - len(cont))
    nll = token_nll(model, rows, batch_size)  # position t-1 holds the NLL of row[t]
    sums = [-float(n[s - 1 :].sum()) for n, s in zip(nll, starts, strict=True)]
    out, k = [], 0
    for item in items:
        n = len(item.continuations)
        toks = [len(rows[k + i]) - starts[k + i] for i in range(n)]
        out.append(ChoiceScore(sums[k : k + n], [len(c) for c in item.continuations], toks))
        k += n
    return out


def choice_metrics(item: ChoiceItem, score: ChoiceScore) -> dict[str, float]:
    """acc, acc_norm (and mc2 where the item marks its true choices) for one item."""
    lp = score.logprobs
    best = max(range(len(lp)), key=lambda i: lp[i])
    best_norm = max(range(len(lp)), key=lambda i: lp[i] / max(score.chars[i], 1))
    out = {"acc": float(best == item.gold), "acc_norm": float(best_norm == item.gold)}
    if item.true_mask is not None:
        top = max(lp)
        probs = [math.exp(x - top) for x in lp]
        out["mc2"] = sum(p for p, t in zip(probs, item.true_mask, strict=True) if t) / sum(probs)
    return out
