"""Phase 3's measurements: the bake gate's accuracies (thinking vs answering directly), the
anti-theater comparison (the same model with and without thoughts on the same test items, under
teacher forcing: see `with_and_without`), and a few answers generated with hidden thoughts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from agent_forge.data.thinking import answer_after_thinking
from agent_forge.eval.generation import greedy_completions
from agent_forge.eval.items import GenerationItem
from agent_forge.eval.runner import generation_correct


def direct_accuracy(
    model: Any, tok: Any, items: Sequence[GenerationItem], max_new: int
) -> list[int]:
    """Per item 1/0: the answer generated directly after the prompt (the suite's own measure)."""
    outs = greedy_completions(model, tok, [i.prompt for i in items], max_new, stop_at="\n")
    return [int(generation_correct(i, o)) for i, o in zip(items, outs, strict=True)]


def thinking_accuracy(
    model: Any, tok: Any, items: Sequence[GenerationItem], max_new: int
) -> tuple[list[int], list[str]]:
    """Per item 1/0 for a baked model: it writes <think> ... </think> then the answer; only the
    text after </think> is the answer (the thinking is masked). Also the raw completions."""
    outs = greedy_completions(
        model, tok, [i.prompt for i in items], max_new, stop_at="\n", skip_special_tokens=False
    )
    scores = [
        int(generation_correct(i, answer_after_thinking(o)))
        for i, o in zip(items, outs, strict=True)
    ]
    return scores, outs


def encode_items(tok: Any, items: Sequence[GenerationItem]) -> list[tuple[list[int], int]]:
    """(ids of prompt + " " + answer + newline, prompt length) per item: the training format
    (lm_text.format_example). The prompt's tokens are a prefix of the whole (checked)."""
    out = []
    for item in items:
        prompt = tok(item.prompt, add_special_tokens=False).input_ids
        ids = tok(f"{item.prompt} {item.target}\n", add_special_tokens=False).input_ids
        if ids[: len(prompt)] != prompt:
            raise ValueError(f"item {item.id}: the prompt does not tokenize as a prefix")
        out.append((ids, len(prompt)))
    return out


def _batches(rows: list[list[int]], size: int, pad: int) -> list[tuple[int, torch.Tensor]]:
    out = []
    for i in range(0, len(rows), size):
        chunk = rows[i : i + size]
        width = max(len(r) for r in chunk)
        out.append((i, torch.tensor([r + [pad] * (width - len(r)) for r in chunk])))
    return out


@torch.no_grad()
def with_and_without(
    model: Any,
    rows: list[list[int]],
    spans: list[tuple[int, int]],
    cfg: Any,
    pad_id: int,
    seed: int,
    batch_size: int = 8,
) -> tuple[dict[str, list[float]], float, int]:
    """Per row, over target positions t in [lo, hi) (each predicting token t + 1): summed NLL and
    all-correct with and without the thought at t, the mean reward, and the token count. Right
    padding never reaches a real position (causal; a thought at t sees x_<=t only). Greedy
    thoughts: deterministic. Also the seconds spent and the number of thoughts.

    Accuracy with thoughts is scored under teacher forcing: an item is right when the prediction at
    every answer token (and the newline that ends the answer) is the true token. For greedy decoding
    this *is* exact match of the generated answer (greedy produces the answer iff every step's
    argmax is the next answer token), so it is the same measure as the tasks suite, computed in one
    pass; tests/phases/test_quietstar.py checks the identity on a real model without thoughts."""
    from agent_forge.training.quietstar import score_with_thoughts

    keys = ("nll_with", "nll_without", "correct_with", "correct_without", "reward", "tokens")
    out: dict[str, list[float]] = {k: [] for k in keys}
    seconds, thoughts = 0.0, 0
    gen = torch.Generator().manual_seed(seed)
    for start, x in _batches(rows, batch_size, pad_id):
        s = score_with_thoughts(model, x, cfg, generator=gen, greedy=True)
        seconds += s.seconds
        thoughts += x.numel()
        for j in range(x.shape[0]):
            lo, hi = spans[start + j]
            sl = slice(lo, hi)
            out["nll_with"].append(float(s.nll_thought[j, sl].sum()))
            out["nll_without"].append(float(s.nll_base[j, sl].sum()))
            out["correct_with"].append(float(bool(s.correct_thought[j, sl].all())))
            out["correct_without"].append(float(bool(s.correct_base[j, sl].all())))
            out["reward"].append(float(s.reward[j, sl].mean()))
            out["tokens"].append(float(hi - lo))
    return out, seconds, thoughts


def hidden_thought_samples(
    model: Any, tok: Any, items: Sequence[GenerationItem], cfg: Any, max_new: int, seed: int
) -> list[dict[str, Any]]:
    """A few answers generated with a thought before every token; the thoughts stay hidden."""
    from agent_forge.training.quietstar import generate_with_thoughts

    out = []
    gen = torch.Generator().manual_seed(seed)
    for item in items:
        ids = torch.tensor([tok(item.prompt, add_special_tokens=False).input_ids])
        new = generate_with_thoughts(
            model, ids, max_new, cfg, eos_id=tok.eos_token_id, generator=gen
        )[0, ids.shape[1] :]
        text = tok.decode(new.tolist(), skip_special_tokens=False)
        out.append(
            {
                "prompt": item.prompt,
                "target": item.target,
                "completion": text,
                "new_token_ids": new.tolist(),
            }
        )
    return out
