"""Worked solutions written in the thinking tokens: Phase 3's baking documents (step 1).

A document is `Question: <prompt>\\nAnswer:<think>BODY</think> <answer>\\n`: the same prompt as
every other scorer (lm_text.format_prompt), then a thinking block, then the answer and the newline
that ends it. The body is the task generator's own worked solution (Example.solution, so every
step is true) arranged by one of seven strategies, each led by its token:

| strategy | body |
|---|---|
| think   | the solution's lines joined with " ; " |
| step    | `<step>` before each line |
| reason  | `<reason>` then the lines joined with " so " |
| mece    | `<mece>` then the lines as numbered, non-overlapping parts "(1) ... (2) ..." |
| falsify | the lines, then `<falsify>` a wrong candidate (a neighbour of a numeric answer, or the
            first line's claim negated) rejected by the last line |
| expert  | `<expert>` "as a(n) <domain> expert:" then the lines |
| doubt   | the lines, then `<doubt>` "recheck:" and the last line again |

No newline appears inside the block (the solution's line breaks become the separators above), so
the answer line is still ended by the first "\\n" and `answer_after_thinking` finds the answer
after `</think>`. Plain Python: no tokenizer, no torch.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from agent_forge.data.lm_text import format_example, format_prompt
from agent_forge.data.special_tokens import THINKING_TOKENS
from agent_forge.data.tasks import Example
from agent_forge.data.tasks.base import parse_number

THINK, END_THINK = THINKING_TOKENS[0], THINKING_TOKENS[1]
STRATEGY_TOKENS = dict(
    zip(("step", "reason", "mece", "falsify", "expert", "doubt"), THINKING_TOKENS[2:], strict=True)
)
STRATEGIES = ("think", *STRATEGY_TOKENS)


def _lines(example: Example) -> list[str]:
    if not example.solution:
        raise ValueError(f"example {example.uid} ({example.domain}) has no worked solution")
    return [" ".join(line.split()) for line in example.solution.splitlines() if line.strip()]


def _wrong_candidate(example: Example) -> str:
    """A neighbour of a numeric answer (answer + 1), else the answer's text reversed (or with
    'not' when reversing changes nothing): a candidate the last solution line rules out."""
    number = parse_number(example.answer)
    if number is not None and number.denominator == 1:
        return str(number + 1)
    flipped = example.answer[::-1]
    return flipped if flipped != example.answer else f"not {example.answer}"


def thinking_body(example: Example, strategy: str) -> str:
    """The text between <think> and </think> for `strategy` (module docstring)."""
    lines = _lines(example)
    if strategy == "think":
        return " ; ".join(lines)
    if strategy not in STRATEGY_TOKENS:
        raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
    tok = STRATEGY_TOKENS[strategy]
    if strategy == "step":
        return "".join(f"{tok} {line} " for line in lines).rstrip()
    if strategy == "reason":
        return f"{tok} " + " so ".join(lines)
    if strategy == "mece":
        return f"{tok} " + " ".join(f"({i}) {line}" for i, line in enumerate(lines, 1))
    if strategy == "falsify":
        return f"{' ; '.join(lines)} {tok} {_wrong_candidate(example)}? no: {lines[-1]}"
    if strategy == "expert":
        field = example.domain.replace("_", " ")
        article = "an" if field[0] in "aeiou" else "a"
        return f"{tok} as {article} {field} expert: " + " ; ".join(lines)
    return f"{' ; '.join(lines)} {tok} recheck: {lines[-1]}"  # doubt


def thinking_prompt(example: Example) -> str:
    """What the baked model is given: the usual prompt; it answers with <think>...</think> x."""
    return format_prompt(example)


def thinking_document(example: Example, strategy: str) -> str:
    """A training document: prompt, thinking block in `strategy`, answer, newline."""
    body = thinking_body(example, strategy)
    return f"{format_prompt(example)}{THINK}{body}{END_THINK} {example.answer}\n"


def answer_after_thinking(text: str) -> str:
    """The answer in a generated completion: the text after the last </think>, or "" when the
    block was never closed (the thoughts are not part of the answer: masked at inference)."""
    if END_THINK not in text:
        return ""
    return text.rsplit(END_THINK, 1)[1].strip()


def baking_documents(
    examples: Sequence[Example],
    strategies: Sequence[str],
    n: int,
    plain_share: float,
    seed: int,
) -> list[str]:
    """`n` documents: each example with a worked solution, in turn, in the next strategy (so the
    strategies are used equally and every example is seen before any repeats), plus
    round(n * plain_share) plain answer-only documents of the same examples (so the model keeps
    answering directly too). Deterministic in `seed`."""
    pool = sorted((e for e in examples if e.solution), key=lambda e: e.uid)
    if not pool:
        raise ValueError("no example with a worked solution to bake")
    random.Random(seed).shuffle(pool)
    docs = [
        thinking_document(pool[i % len(pool)], strategies[i % len(strategies)]) for i in range(n)
    ]
    docs += [format_example(pool[i % len(pool)]) for i in range(round(n * plain_share))]
    return docs
