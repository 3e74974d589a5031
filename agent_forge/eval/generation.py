"""Greedy generation scoring: batched, left-padded, KV cache on, and only the *newly generated*
tokens are decoded and checked (the prompt can never score)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


@torch.no_grad()
def greedy_completions(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int = 32,
    stop_at: str | Sequence[str] | None = "\n",
    skip_special_tokens: bool = True,
) -> list[str]:
    """Greedy continuation of each prompt; the text is cut at the first of the `stop_at` strings
    (HumanEval's stops are several: "\ndef", "\nclass", ...). With skip_special_tokens=False
    the special tokens stay in the text (a thinking block's <think> ... </think>)."""
    stops = [stop_at] if isinstance(stop_at, str) else list(stop_at or [])
    was_training = model.training
    model.eval()
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    out: list[str] = []
    try:
        for i in range(0, len(prompts), batch_size):
            enc = tokenizer(list(prompts[i : i + batch_size]), return_tensors="pt", padding=True)
            gen = model.generate(
                input_ids=enc.input_ids,
                attention_mask=enc.attention_mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                use_cache=True,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                # A row that produced a stop string is finished (padded from then on), and the
                # batch ends when every row is: answers are cut at the stop below either way.
                stop_strings=stops or None,
                tokenizer=tokenizer if stops else None,
            )
            new = gen[:, enc.input_ids.shape[1] :]  # (B, new): newly generated tokens only
            for text in tokenizer.batch_decode(new, skip_special_tokens=skip_special_tokens):
                out.append(cut_at_stops(text, stops))
    finally:
        tokenizer.padding_side = old_side
        model.train(was_training)
    return out


def cut_at_stops(text: str, stops: Sequence[str]) -> str:
    """`text` up to the earliest occurrence of any stop string."""
    end = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=len(text))
    return text[:end]


def score_examples(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Any],
    format_prompt: Callable[[Any], str],
    check: Callable[[Any, str], bool],
    max_new_tokens: int = 16,
    batch_size: int = 32,
) -> list[bool]:
    """Per-example correctness of the model's greedy answer, by the example's own checker."""
    prompts = [format_prompt(ex) for ex in examples]
    predictions = greedy_completions(model, tokenizer, prompts, max_new_tokens, batch_size)
    return [check(ex, pred) for ex, pred in zip(examples, predictions, strict=True)]
