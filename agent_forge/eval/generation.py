"""One decode loop for every phase: `generate` (batched, left-padded, KV cache on; greedy or
sampled with a temperature per row, optional top-k / top-p, per-row seeded generators, stop
strings, and a hook that splices text into a row's context), plus the greedy scorers built on it.

Only tokens after the prompt are returned, so a prompt that contains the answer cannot score.
Splicing feeds the spliced tokens through the same cache one per step (teacher-forced), so the
batch stays in lockstep and nothing is recomputed; see docs/eval/README.md, "generate".
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from transformers.cache_utils import DynamicCache

log = logging.getLogger(__name__)

FinishedBy = Literal["stop", "eos", "length"]
Hook = Callable[[int, str], str | None]
"""`hook(row_index, text_so_far)`: called once after every model-generated token of a row that
has not finished; `row_index` indexes `prompts`, the text is everything after the prompt (spliced
text included). A non-empty string returned is tokenised and appended to that row's context."""


class GenerationConfig(BaseModel):
    """How `generate` decodes. `temperature` is one value or one per prompt; 0 = greedy (for that
    row). `top_k` / `top_p` (None = off) filter sampled rows only. `stop` strings finish a row and
    are cut from its text. `seed` seeds one generator per row (seed, row index), so a row's
    samples do not depend on batch size or on the other prompts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_new_tokens: int = Field(16, ge=1)
    temperature: float | tuple[float, ...] = 0.0
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stop: tuple[str, ...] = ()
    seed: int = Field(0, ge=0, lt=2**31)
    batch_size: int = Field(32, ge=1)
    skip_special_tokens: bool = True

    @field_validator("temperature")
    @classmethod
    def _temperature_ok(cls, v: float | tuple[float, ...]) -> float | tuple[float, ...]:
        values = (v,) if isinstance(v, int | float) else v
        bad = [t for t in values if not math.isfinite(t) or t < 0]
        if bad:
            raise ValueError(f"temperature must be finite and >= 0 (0 = greedy), got {bad[:3]}")
        return v

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_tuple(cls, v: Any) -> Any:
        if v is None:
            return ()
        return (v,) if isinstance(v, str) else tuple(s for s in v if s)


@dataclass(frozen=True)
class Splice:
    """Text a hook put into a row's context: its tokens are `Generation.token_ids[at:at+len]`."""

    at: int
    text: str
    token_ids: tuple[int, ...]


@dataclass(frozen=True)
class Generation:
    """One row's output. `token_ids`: every token after the prompt in context order (generated
    and spliced interleaved; the tokens that made a stop string stay in). `text`: their decoding,
    spliced text included, cut at the stop string. `splices` say which tokens were spliced."""

    text: str
    token_ids: tuple[int, ...]
    finished_by: FinishedBy
    splices: tuple[Splice, ...] = ()

    @property
    def generated_mask(self) -> tuple[bool, ...]:
        """True where the model produced the token, False where a hook spliced it."""
        mask = [True] * len(self.token_ids)
        for s in self.splices:
            mask[s.at : s.at + len(s.token_ids)] = [False] * len(s.token_ids)
        return tuple(mask)

    @property
    def num_generated(self) -> int:
        return len(self.token_ids) - sum(len(s.token_ids) for s in self.splices)


@dataclass
class _Row:
    """Decode state of one row. `pending`: context tokens not yet fed to the model (the last
    sampled token, then any spliced ones); the model's logits are used only once it is empty."""

    index: int
    temperature: float
    rng: torch.Generator | None
    ids: list[int] = field(default_factory=list)
    pending: deque[int] = field(default_factory=deque)
    splices: list[Splice] = field(default_factory=list)
    generated: int = 0
    stop_from: int = 0  # stop strings are searched in text[stop_from:] (after the last splice)
    text: str = ""
    finished_by: FinishedBy | None = None


def row_temperatures(cfg: GenerationConfig, n: int) -> list[float]:
    """One temperature per prompt; ValueError when a per-row list has the wrong length."""
    if isinstance(cfg.temperature, tuple):
        if len(cfg.temperature) != n:
            raise ValueError(f"temperature has {len(cfg.temperature)} values for {n} prompts")
        return [float(t) for t in cfg.temperature]
    return [float(cfg.temperature)] * n


@torch.no_grad()
def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str | Sequence[int]],
    cfg: GenerationConfig | None = None,
    hook: Hook | None = None,
) -> list[Generation]:
    """Continue each prompt (a string, or token ids used as they are) under `cfg`; one
    `Generation` per prompt, in order, holding only what came after the prompt."""
    cfg = cfg or GenerationConfig()
    temps = row_temperatures(cfg, len(prompts))
    if not prompts:
        return []
    encoded = [_encode(tokenizer, p, i) for i, p in enumerate(prompts)]
    was_training = model.training
    model.eval()
    out: list[Generation] = []
    try:
        for i in range(0, len(encoded), cfg.batch_size):
            rows = [
                _Row(j, temps[j], _row_rng(cfg.seed, j) if temps[j] > 0 else None)
                for j in range(i, min(i + cfg.batch_size, len(encoded)))
            ]
            _decode_batch(model, tokenizer, encoded[i : i + cfg.batch_size], rows, cfg, hook)
            out += [_result(tokenizer, r, cfg) for r in rows]
    finally:
        model.train(was_training)
    return out


def _encode(tokenizer: Any, prompt: str | Sequence[int], i: int) -> list[int]:
    ids = tokenizer(prompt).input_ids if isinstance(prompt, str) else [int(t) for t in prompt]
    if not ids:
        raise ValueError(f"prompts[{i}] is empty (no tokens): there is nothing to continue")
    return ids


def _row_rng(seed: int, row: int) -> torch.Generator:
    """A CPU generator for (seed, row). Mixed through a hash: the CPU generator keeps only the
    low 32 bits of its seed, so (seed << 32) + row would give every seed the same stream."""
    digest = hashlib.blake2b(f"{seed}:{row}".encode(), digest_size=4).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little"))


def _decode_batch(
    model: Any,
    tokenizer: Any,
    prompts: list[list[int]],
    rows: list[_Row],
    cfg: GenerationConfig,
    hook: Hook | None,
) -> None:
    """Prefill the left-padded batch, then one token per row per step until every row is done.
    Positions and masks follow HF `generate` (positions count real tokens; an all-real batch
    passes no mask; finished rows are fed padding), so greedy rows equal its output."""
    device = next(model.parameters()).device
    pad = _pad_id(tokenizer)
    eos = {tokenizer.eos_token_id} - {None}
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    attn = None if bool(mask.all()) else mask
    cache = DynamicCache(config=model.config)
    temps = torch.tensor([r.temperature for r in rows], device=device)
    logits = _forward(model, ids, attn, positions, cache)
    next_pos = positions[:, -1:] + 1
    while True:
        ready = [r.finished_by is None and not r.pending for r in rows]
        picks = _pick(logits, temps, rows, ready, cfg) if any(ready) else [pad] * len(rows)
        for r, is_ready, tok_id in zip(rows, ready, picks, strict=True):
            if is_ready:
                _accept(tokenizer, r, tok_id, eos, cfg, hook)
        if all(r.finished_by is not None for r in rows):
            return
        feed = [r.pending.popleft() if r.finished_by is None else pad for r in rows]
        if attn is not None:
            attn = torch.cat([attn, attn.new_ones(len(rows), 1)], dim=-1)
        step_ids = torch.tensor(feed, device=device)[:, None]
        logits = _forward(model, step_ids, attn, next_pos, cache)
        next_pos = next_pos + 1


def _pad_id(tokenizer: Any) -> int:
    for tid in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if tid is not None:
            return int(tid)
    return 0


def _forward(
    model: Any,
    ids: torch.Tensor,
    attn: torch.Tensor | None,
    positions: torch.Tensor,
    cache: DynamicCache,
) -> torch.Tensor:
    """Next-token logits (B, V) in float32 after feeding `ids` (B, T) into `cache`."""
    out = model(
        input_ids=ids,
        attention_mask=attn,
        position_ids=positions,
        cache=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    return out.logits[:, -1, :].float()


def _pick(
    logits: torch.Tensor,
    temps: torch.Tensor,
    rows: list[_Row],
    ready: list[bool],
    cfg: GenerationConfig,
) -> list[int]:
    """Next token per row: argmax for temperature 0, else one draw from the row's generator
    (inverse CDF of the filtered distribution). Only ready sampled rows consume randomness."""
    picks = logits.argmax(-1)
    sampled = [i for i, r in enumerate(rows) if ready[i] and r.temperature > 0]
    if sampled:
        idx = torch.tensor(sampled, device=logits.device)
        probs = _filtered_probs(logits[idx] / temps[idx, None], cfg.top_k, cfg.top_p)
        order = None
        if cfg.top_p is not None:
            probs, order = probs.sort(dim=-1, descending=True)
            keep = probs.cumsum(-1) - probs < cfg.top_p  # the top token is always kept
            probs = probs * keep
        cdf = probs.cumsum(-1)
        u = torch.tensor([float(torch.rand((), generator=rows[i].rng)) for i in sampled])
        target = (u.to(cdf.device, cdf.dtype) * cdf[:, -1])[:, None]
        choice = torch.searchsorted(cdf, target, right=True).clamp(max=cdf.shape[-1] - 1)
        if order is not None:
            choice = order.gather(-1, choice)
        picks[idx] = choice[:, 0]
    return picks.tolist()


def _filtered_probs(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Softmax of temperature-scaled logits (N, V), with all but the top-k set to 0."""
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.softmax(logits, dim=-1)


def _accept(
    tokenizer: Any,
    row: _Row,
    tok_id: int,
    eos: set[int],
    cfg: GenerationConfig,
    hook: Hook | None,
) -> None:
    """Append a generated token; finish the row on eos, a stop string or the budget; otherwise
    ask the hook, whose string goes into the row's context (and its pending feed)."""
    row.ids.append(tok_id)
    row.pending.append(tok_id)
    row.generated += 1
    if tok_id in eos:
        row.finished_by = "eos"
        return
    if cfg.stop or hook is not None:
        row.text = tokenizer.decode(row.ids, skip_special_tokens=cfg.skip_special_tokens)
        if _find_stop(row.text, cfg.stop, row.stop_from) >= 0:
            row.finished_by = "stop"
            return
    if row.generated >= cfg.max_new_tokens:
        row.finished_by = "length"
        return
    splice = hook(row.index, row.text) if hook is not None else None
    if splice:
        splice_ids = tokenizer(splice, add_special_tokens=False).input_ids
        row.splices.append(Splice(len(row.ids), splice, tuple(splice_ids)))
        row.ids += splice_ids
        row.pending.extend(splice_ids)
        row.text = tokenizer.decode(row.ids, skip_special_tokens=cfg.skip_special_tokens)
        row.stop_from = len(row.text)
        log.debug("row %d: spliced %d tokens", row.index, len(splice_ids))


def _find_stop(text: str, stops: Sequence[str], start: int = 0) -> int:
    """Index of the earliest stop string in text[start:] (an absolute index), or -1."""
    hits = [i for i in (text.find(s, start) for s in stops if s) if i >= 0]
    return min(hits, default=-1)


def _result(tokenizer: Any, row: _Row, cfg: GenerationConfig) -> Generation:
    text = tokenizer.decode(row.ids, skip_special_tokens=cfg.skip_special_tokens)
    end = _find_stop(text, cfg.stop, row.stop_from)
    return Generation(
        text=text[:end] if end >= 0 else text,
        token_ids=tuple(row.ids),
        finished_by=row.finished_by or "length",
        splices=tuple(row.splices),
    )


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
    cfg = GenerationConfig(
        max_new_tokens=max_new_tokens,
        stop=stop_at,
        batch_size=batch_size,
        skip_special_tokens=skip_special_tokens,
    )
    return [g.text for g in generate(model, tokenizer, prompts, cfg)]


def cut_at_stops(text: str, stops: Sequence[str]) -> str:
    """`text` up to the earliest occurrence of any stop string."""
    end = _find_stop(text, stops)
    return text[:end] if end >= 0 else text


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
