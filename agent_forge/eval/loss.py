"""Held-out loss: THE function for a token stream (`evaluate_loss`: consecutive non-overlapping
windows, what training, calibration and the gates report) and per-document loss (`heldout_loss`:
batched, padding masked, for suites and their bootstrap CIs). Every target token counted once.

A document is scored as the model was trained (`data.lm_text.encode_documents`): it follows an
`<eos>` separator and ends with one, so its targets are its own tokens plus the closing `<eos>`.
Documents longer than the window are cut into windows that overlap by one token, so each target
is predicted exactly once (with less context at a window start, as in non-overlapping evaluation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass
class LossResult:
    """Per-document summed NLL (nats) and target counts; the mean is token-weighted."""

    nll: list[float]
    tokens: list[int]

    @property
    def mean_loss(self) -> float:
        return sum(self.nll) / max(sum(self.tokens), 1)

    @property
    def perplexity(self) -> float:
        return math.exp(self.mean_loss)


@torch.no_grad()
def window_loss(model: Any, windows: torch.Tensor, batch_size: int = 16) -> float:
    """Mean next-token cross-entropy (nats) over the targets of `windows` (N, T): tokens 1.. of
    each row given the ones before them, summed over all rows, divided by N * (T - 1)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    device = next(model.parameters()).device  # a model training on a GPU is scored there
    try:
        for i in range(0, windows.size(0), batch_size):
            batch = windows[i : i + batch_size].to(device)  # (B, T)
            logits = model(input_ids=batch).logits[:, :-1].float()  # (B, T-1, V)
            nll = F.cross_entropy(
                logits.reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1), reduction="sum"
            )
            total, count = total + float(nll), count + batch[:, 1:].numel()
    finally:
        model.train(was_training)
    return total / max(count, 1)


def evaluate_loss(
    model: Any, tokens: torch.Tensor, seq_len: int, max_batches: int, batch_size: int = 16
) -> float:
    """Mean next-token cross-entropy over consecutive non-overlapping windows of `seq_len` of a
    1-D token stream, at most max_batches * batch_size of them (every target token counted once;
    a window's first token is context only). 0.0 when the stream is shorter than one window."""
    n_windows = min(tokens.numel() // seq_len, max_batches * batch_size)
    windows = tokens[: n_windows * seq_len].view(n_windows, seq_len)  # (N, T)
    return window_loss(model, windows, batch_size)


def _windows(ids: list[int], length: int) -> list[list[int]]:
    """Inputs of at most `length` tokens whose targets (all but the first token) tile `ids[1:]`."""
    return [ids[s : s + length] for s in range(0, max(len(ids) - 1, 1), length - 1)]


def pad_right(rows: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention mask), both (B, T_max): each row left-aligned, zeros after it."""
    width = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for j, r in enumerate(rows):
        ids[j, : len(r)] = torch.tensor(r)
        mask[j, : len(r)] = 1
    return ids, mask


@torch.no_grad()
def token_nll(model: Any, rows: Sequence[list[int]], batch_size: int = 16) -> list[torch.Tensor]:
    """NLL (nats) of tokens 1.. of each token row, given the tokens before them: one (len-1,)
    tensor per row. Rows are right-padded in batches; padding is masked out of attention, and
    causality keeps it from touching the real tokens."""
    was_training = model.training
    model.eval()
    out: list[torch.Tensor] = []
    try:
        for i in range(0, len(rows), batch_size):
            chunk = rows[i : i + batch_size]
            ids, mask = pad_right(chunk)
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits.float()
            nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
            out += [nll[j, : len(r) - 1] for j, r in enumerate(chunk)]  # (B, T-1) -> unpadded
    finally:
        model.train(was_training)
    return out


def heldout_loss(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    batch_size: int = 16,
    max_length: int | None = None,
) -> LossResult:
    """Per-document loss of `texts` (see the module docstring for what is counted)."""
    length = max_length or int(model.config.max_position_embeddings)
    if length < 2:
        raise ValueError(f"max_length={length} leaves no target token")
    eos = tokenizer.eos_token_id
    encoded = tokenizer(list(texts), add_special_tokens=False).input_ids
    rows: list[list[int]] = []
    owner: list[int] = []
    for d, doc in enumerate(encoded):
        for w in _windows([eos, *doc, eos], length):
            rows.append(w)
            owner.append(d)
    nll, tokens = [0.0] * len(texts), [0] * len(texts)
    for d, row_nll in zip(owner, token_nll(model, rows, batch_size), strict=True):
        nll[d] += float(row_nll.sum())
        tokens[d] += row_nll.numel()
    return LossResult(nll, tokens)
