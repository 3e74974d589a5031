"""Score a `Suite` on a model: per-item scores first (the unit that shards and retention use),
then a summary with confidence intervals and the chance level.

`score_items` works on any slice of a suite, and `summarise` only reads per-item scores, so a suite
scored in shards and concatenated in order summarises to exactly the single-process result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from agent_forge.data.tasks.base import CHECKERS, Example, check_answer
from agent_forge.eval.answers import is_match
from agent_forge.eval.choice import choice_logprobs, choice_metrics
from agent_forge.eval.ci import ci_for
from agent_forge.eval.generation import greedy_completions
from agent_forge.eval.items import ChoiceItem, CodeItem, GenerationItem, Item, Suite, TextItem
from agent_forge.eval.loss import heldout_loss

BINARY_METRICS = ("acc", "acc_norm", "exact_match", "pass@1")
TASK_RULE = "task:"  # GenerationItem.extract "task:number" = the task generators' own checker


@dataclass
class EvalOptions:
    """How to score (not what): batch size, generation stops, sandbox limits, CI resamples."""

    batch_size: int = 16
    code_timeout_s: float = 5.0
    code_workers: int = 2
    code_cpu_seconds: int = 5
    code_memory_mb: int = 512
    bootstrap_resamples: int = 2000
    seed: int = 0


@dataclass
class ItemScore:
    id: str
    group: str
    scores: dict[str, float]
    output: str | None = None  # generated text (new tokens only) or sandbox reason


@dataclass
class MetricScore:
    value: float
    ci95: tuple[float, float]
    n: int
    chance: float | None
    higher_is_better: bool = True


@dataclass
class SuiteResult:
    suite: str
    kind: str
    n: int
    metrics: dict[str, MetricScore]
    groups: dict[str, dict[str, MetricScore]] = field(default_factory=dict)
    items: list[ItemScore] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self, with_items: bool = False) -> dict[str, Any]:
        out = asdict(self)
        if not with_items:
            out.pop("items")
        return out


def generation_correct(item: GenerationItem, text: str) -> bool:
    checker = item.extract.removeprefix(TASK_RULE)
    if item.extract.startswith(TASK_RULE) and checker in CHECKERS:  # a built-in task's checker
        return check_answer(Example(0, "", item.prompt, item.target, checker=checker), text)
    return is_match(text, item.target, item.extract)


def score_items(
    model: Any, tokenizer: Any, suite: Suite, items: Sequence[Item], opts: EvalOptions
) -> list[ItemScore]:
    """Per-item scores of `items` (all of `suite.kind`)."""
    if not items:
        return []
    if suite.kind == "choice":
        choice = [i for i in items if isinstance(i, ChoiceItem)]
        scores = choice_logprobs(model, tokenizer, choice, opts.batch_size)
        groups = suite.extra.get("item_group", {})  # e.g. MMLU: id -> subject
        return [
            ItemScore(i.id, groups.get(i.id, ""), choice_metrics(i, s))
            for i, s in zip(choice, scores, strict=True)
        ]
    if suite.kind == "loss":
        texts = [i for i in items if isinstance(i, TextItem)]
        res = heldout_loss(model, tokenizer, [t.text for t in texts], opts.batch_size)
        return [
            ItemScore(t.id, "", {"nll": n, "tokens": float(k)})
            for t, n, k in zip(texts, res.nll, res.tokens, strict=True)
        ]
    stops = suite.extra.get("stop", ["\n"])
    gen = [i for i in items if isinstance(i, GenerationItem | CodeItem)]
    outs = greedy_completions(
        model, tokenizer, [i.prompt for i in gen], suite.max_new_tokens, opts.batch_size, stops
    )
    if suite.kind == "generation":
        return [
            ItemScore(i.id, i.group, {"exact_match": float(generation_correct(i, o))}, o)
            for i, o in zip(gen, outs, strict=True)
        ]
    from agent_forge.eval.code_exec import score_code  # runs programs: only for code suites
    from agent_forge.eval.sandbox import SandboxLimits

    code = [i for i in gen if isinstance(i, CodeItem)]
    limits = SandboxLimits(cpu_seconds=opts.code_cpu_seconds, memory_mb=opts.code_memory_mb)
    runs = score_code(code, outs, opts.code_timeout_s, limits, opts.code_workers)
    return [
        ItemScore(i.id, i.group, {"pass@1": float(r.passed)}, f"{r.reason}: {o}")
        for i, o, r in zip(code, outs, runs, strict=True)
    ]


def _metric(values: list[float], name: str, chance: float | None, opts: EvalOptions) -> MetricScore:
    kind = "proportion" if name in BINARY_METRICS else "mean"  # the CI rule of eval.ci
    mean, lo, hi = ci_for(kind, values, n_resamples=opts.bootstrap_resamples, seed=opts.seed)
    return MetricScore(mean, (lo, hi), len(values), chance)


def _loss_metrics(items: list[ItemScore], vocab: int, opts: EvalOptions) -> dict[str, MetricScore]:
    nll = [i.scores["nll"] for i in items]
    tok = [i.scores["tokens"] for i in items]
    mean, lo, hi = ci_for("loss", nll, tok, n_resamples=opts.bootstrap_resamples, seed=opts.seed)
    uniform = math.log(vocab)  # the loss of guessing uniformly over the vocabulary
    return {
        "loss": MetricScore(mean, (lo, hi), len(items), uniform, higher_is_better=False),
        "perplexity": MetricScore(
            math.exp(mean), (math.exp(lo), math.exp(hi)), len(items), float(vocab), False
        ),
    }


def _by_group(items: list[ItemScore]) -> dict[str, list[ItemScore]]:
    """Items per group, and per part of a group path: "level_2/logic" also counts towards
    "level_2" and "logic", so a suite reports per level and per domain as well as both."""
    out: dict[str, list[ItemScore]] = {}
    for i in items:
        if i.group:
            parts = i.group.split("/")
            for key in dict.fromkeys([i.group, *parts] if len(parts) > 1 else [i.group]):
                out.setdefault(key, []).append(i)
    return dict(sorted(out.items()))


def summarise(
    suite: Suite, items: list[ItemScore], opts: EvalOptions, vocab_size: int
) -> SuiteResult:
    """Suite-level metrics and per-group ones, each with its kind's CI (`eval.ci.ci_for`)."""
    if not items:
        raise ValueError(f"suite {suite.name!r} has no items to summarise")
    if suite.kind == "loss":
        return SuiteResult(
            suite.name, suite.kind, len(items), _loss_metrics(items, vocab_size, opts), items=items
        )
    metrics = {
        m: _metric(
            [i.scores[m] for i in items],
            m,
            suite.extra.get("chance", {}).get(m, suite.chance),
            opts,
        )
        for m in suite.metrics
    }
    groups: dict[str, dict[str, MetricScore]] = {}
    group_chance = suite.extra.get("group_chance", {})
    for g, rows in _by_group(items).items():
        groups[g] = {
            m: _metric([i.scores[m] for i in rows], m, group_chance.get(g), opts)
            for m in suite.metrics
        }
    return SuiteResult(suite.name, suite.kind, len(items), metrics, groups, items)


def evaluate_suite(
    model: Any, tokenizer: Any, suite: Suite, opts: EvalOptions | None = None
) -> SuiteResult:
    """Score every item of `suite` in this process and summarise."""
    opts = opts or EvalOptions()
    start = time.perf_counter()
    items = score_items(model, tokenizer, suite, suite.items, opts)
    result = summarise(suite, items, opts, int(model.config.vocab_size))
    result.seconds = time.perf_counter() - start
    return result
