"""The task contract: `Example`, answer normalisation and checkers, and tool-call formatting.

Checkers are pure string/number comparisons. Code answers are never executed here: the `sandbox`
checker only compares syntax trees (`ast.parse`, no exec); the eval sandbox runs `tests` later.
"""

from __future__ import annotations

import ast
import hashlib
import json
import random
import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

from agent_forge.data.special_tokens import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

T = TypeVar("T")
MIN_LEVEL, MAX_LEVEL = 1, 10
CHECKERS = ("number", "text", "text_ci", "sandbox")


@dataclass(frozen=True)
class Example:
    """One task with a verifiable answer. `checker` names how predictions are compared."""

    level: int
    domain: str
    prompt: str
    answer: str
    solution: str | None = None
    tool_call: str | None = None
    uid: str = ""
    checker: str = "text"
    tests: str | None = None  # python domain: assert lines the sandbox runs against the answer


@dataclass(frozen=True)
class TaskDomain:
    """A registry entry: `generate(rng, level) -> Example`."""

    name: str
    generate: Callable[..., Example]
    description: str


def make_example(level: int, domain: str, prompt: str, answer: object, **fields: object) -> Example:
    """Build an Example whose uid is a hash of (domain, level, normalised prompt)."""
    key = f"{domain}|{level}|{normalize_text(prompt)}"
    uid = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return Example(level, domain, prompt, str(answer), uid=uid, **fields)  # type: ignore[arg-type]


def check_level(level: int) -> None:
    if not MIN_LEVEL <= level <= MAX_LEVEL:
        raise ValueError(f"level {level} is outside {MIN_LEVEL}..{MAX_LEVEL}")


# --- normalisation ---------------------------------------------------------------------------

_WS = re.compile(r"\s+")
# A number as the tasks write it ("-1,234.5", "$12", "7%"); eval/answers.py reads it too.
NUMBER_PATTERN = r"[-+]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?"
_NUM = NUMBER_PATTERN
_FINAL = re.compile(rf"(?:answer is|answer:|####|=)\s*({_NUM})\s*\.?\s*$", re.IGNORECASE)


def normalize_text(s: str) -> str:
    """Collapse whitespace, strip, drop one pair of surrounding quotes, tidy comma spacing."""
    s = _WS.sub(" ", s).strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"`":
        s = s[1:-1].strip()
    return re.sub(r"\s*,\s*", ", ", s)


def parse_number(s: str) -> Fraction | None:
    """'1,234', '$12', '12.50', '7.' and 'The answer is 7' parse; anything else is None."""
    s = _WS.sub(" ", s).strip().strip("\"'`").rstrip(".")
    m = _FINAL.search(s)
    if m and not re.fullmatch(_NUM, s):
        s = m.group(1)
    if not re.fullmatch(_NUM, s):
        return None
    try:
        return Fraction(s.replace(",", "").replace("$", "").rstrip("%"))
    except (ValueError, ZeroDivisionError):
        return None


def _strip_fences(code: str) -> str:
    m = re.search(r"```(?:python)?\n(.*?)```", code, re.DOTALL)
    return m.group(1) if m else code


def _parse_code(code: str) -> ast.Module | None:
    code = _strip_fences(code)
    for candidate in (code.strip(), textwrap.dedent(code).strip()):
        try:
            return ast.parse(candidate)
        except (SyntaxError, ValueError):
            continue
    return None


def _same_syntax(reference: str, prediction: str) -> bool:
    """Equal ASTs (formatting and comments ignored). Parsing only — nothing is executed."""
    a, b = _parse_code(reference), _parse_code(prediction)
    return a is not None and b is not None and ast.dump(a) == ast.dump(b)


def check_answer(example: Example, prediction: str) -> bool:
    """Compare a prediction with the example's answer by the example's checker."""
    kind = example.checker
    if kind == "number":
        want, got = parse_number(example.answer), parse_number(prediction)
        return want is not None and got is not None and want == got
    if kind == "text":
        return normalize_text(prediction) == normalize_text(example.answer)
    if kind == "text_ci":
        return normalize_text(prediction).casefold() == normalize_text(example.answer).casefold()
    if kind == "sandbox":
        return _same_syntax(example.answer, prediction)
    raise ValueError(f"unknown checker {kind!r} (known: {', '.join(CHECKERS)})")


# --- tool calls ------------------------------------------------------------------------------


def tool_call(name: str, **arguments: str) -> str:
    """`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` with sorted, compact JSON."""
    body = json.dumps({"name": name, "arguments": arguments}, sort_keys=True, ensure_ascii=False)
    return f"{TOOL_CALL_OPEN}{body}{TOOL_CALL_CLOSE}"


def calculator_call(expression: str) -> str:
    return tool_call("calculator", expression=expression)


def python_call(code: str) -> str:
    return tool_call("python", code=code)


def pick(rng: random.Random, options: Sequence[T]) -> T:
    """rng.choice over a sequence, kept in one place so every generator draws the same way."""
    return options[rng.randrange(len(options))]
