"""Small Python functions with tests, in the style of MBPP (Austin et al. 2021).

The answer is reference code; `tests` holds assert lines whose expected values were computed by a
plain Python twin of the reference here, never by running code strings. Checker `sandbox`: in
process, a prediction only passes if its syntax tree equals the reference; the eval sandbox runs
`tests` against model code later. Level 1 adds a constant; level 10 checks balanced brackets.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from agent_forge.data.tasks.base import Example, check_level, make_example, pick, python_call

DOMAIN = "python_functions"


@dataclass(frozen=True)
class Template:
    name: str  # may use {k}
    args: str
    doc: str  # may use {k}
    body: str  # indented function body, may use {k}
    twin: Callable[..., Callable[..., object]]  # k -> the same function in Python
    inputs: Callable[[random.Random], tuple]  # one argument tuple per call
    k: tuple[int, int] = (1, 9)


def _ints(lo: int, hi: int, n: int = 1) -> Callable[[random.Random], tuple]:
    return lambda r: tuple(r.randint(lo, hi) for _ in range(n))


def _list(lo: int = -9, hi: int = 20, n: tuple[int, int] = (1, 6)) -> Callable:
    return lambda r: ([r.randint(lo, hi) for _ in range(r.randint(*n))],)


def _words(r: random.Random) -> tuple:
    from agent_forge.data.tasks.strings import WORDS

    return (" ".join(r.choice(WORDS) for _ in range(r.randint(2, 6))),)


def _brackets(r: random.Random) -> tuple:
    """Half balanced (random pushes and pops), half random brackets (almost always unbalanced)."""
    if r.random() < 0.5:
        return ("".join(r.choice("()[]{}") for _ in range(r.randint(2, 8))),)
    out, stack = [], []
    for _ in range(r.randint(1, 4)):
        o = r.choice("([{")
        out.append(o)
        stack.append({"(": ")", "[": "]", "{": "}"}[o])
        while stack and r.random() < 0.5:
            out.append(stack.pop())
    return ("".join(out + stack[::-1]),)


def _balanced(s: str) -> bool:
    stack, pairs = [], {")": "(", "]": "[", "}": "{"}
    for c in s:
        if c in "([{":
            stack.append(c)
        elif not stack or stack.pop() != pairs[c]:
            return False
    return not stack


def _fizz(k: int) -> Callable[[int], str]:
    return lambda n: (
        "FizzBuzz" if n % 15 == 0 else "Fizz" if n % 3 == 0 else "Buzz" if n % 5 == 0 else str(n)
    )


T = Template
LEVELS: dict[int, tuple[Template, ...]] = {
    1: (
        T(
            "add_{k}",
            "x",
            "returns x plus {k}",
            "return x + {k}",
            lambda k: lambda x: x + k,
            _ints(0, 20),
        ),
    ),
    2: (
        T(
            "times_{k}",
            "x",
            "returns x times {k}",
            "return x * {k}",
            lambda k: lambda x: x * k,
            _ints(-9, 20),
        ),
        T(
            "minus_{k}",
            "x",
            "returns x minus {k}",
            "return x - {k}",
            lambda k: lambda x: x - k,
            _ints(0, 30),
        ),
    ),
    3: (
        T(
            "bigger",
            "a, b",
            "returns the larger of a and b",
            "return a if a > b else b",
            lambda k: lambda a, b: max(a, b),
            _ints(-20, 20, 2),
            (0, 0),
        ),
        T(
            "is_multiple_of_{k}",
            "n",
            "returns True if n is divisible by {k}",
            "return n % {k} == 0",
            lambda k: lambda n: n % k == 0,
            _ints(0, 50),
            (2, 9),
        ),
    ),
    4: (
        T(
            "total",
            "xs",
            "returns the sum of the list xs",
            "return sum(xs)",
            lambda k: sum,
            _list(),
            (0, 0),
        ),
        T(
            "count_above_{k}",
            "xs",
            "returns how many items of xs are greater than {k}",
            "return sum(1 for x in xs if x > {k})",
            lambda k: lambda xs: sum(x > k for x in xs),
            _list(),
        ),
    ),
    5: (
        T(
            "keep_above_{k}",
            "xs",
            "returns the items of xs greater than {k}, in order",
            "return [x for x in xs if x > {k}]",
            lambda k: lambda xs: [x for x in xs if x > k],
            _list(),
        ),
        T(
            "count_evens",
            "xs",
            "returns how many numbers in xs are even",
            "return sum(1 for x in xs if x % 2 == 0)",
            lambda k: lambda xs: sum(x % 2 == 0 for x in xs),
            _list(),
            (0, 0),
        ),
    ),
    6: (
        T(
            "count_vowels",
            "s",
            "returns the number of vowels (a, e, i, o, u) in s",
            "return sum(1 for c in s if c in 'aeiou')",
            lambda k: lambda s: sum(c in "aeiou" for c in s),
            _words,
            (0, 0),
        ),
        T(
            "reverse_words",
            "s",
            "returns s with the order of its words reversed",
            "return ' '.join(s.split()[::-1])",
            lambda k: lambda s: " ".join(s.split()[::-1]),
            _words,
            (0, 0),
        ),
    ),
    7: (
        T(
            "fizzbuzz",
            "n",
            "returns 'Fizz' for multiples of 3, 'Buzz' for multiples of 5, "
            "'FizzBuzz' for both, else str(n)",
            "if n % 15 == 0:\n        return 'FizzBuzz'\n"
            "    if n % 3 == 0:\n        return 'Fizz'\n"
            "    if n % 5 == 0:\n        return 'Buzz'\n    return str(n)",
            _fizz,
            _ints(1, 60),
            (0, 0),
        ),
    ),
    8: (
        T(
            "odd_squares",
            "xs",
            "returns the squares of the odd numbers in xs, in order",
            "return [x * x for x in xs if x % 2 == 1]",
            lambda k: lambda xs: [x * x for x in xs if x % 2 == 1],
            _list(),
            (0, 0),
        ),
        T(
            "running_sum",
            "xs",
            "returns the list of running totals of xs",
            "out, t = [], 0\n    for x in xs:\n        t += x\n"
            "        out.append(t)\n    return out",
            lambda k: lambda xs: [sum(xs[: i + 1]) for i in range(len(xs))],
            _list(),
            (0, 0),
        ),
    ),
    9: (
        T(
            "dedupe",
            "xs",
            "returns xs without repeated items, keeping the first of each",
            "seen, out = set(), []\n    for x in xs:\n        if x not in seen:\n"
            "            seen.add(x)\n            out.append(x)\n    return out",
            lambda k: lambda xs: list(dict.fromkeys(xs)),
            _list(0, 5, (2, 8)),
            (0, 0),
        ),
        T(
            "digit_sum",
            "n",
            "returns the sum of the decimal digits of the non-negative integer n",
            "return sum(int(c) for c in str(n))",
            lambda k: lambda n: sum(map(int, str(n))),
            _ints(0, 99999),
            (0, 0),
        ),
    ),
    10: (
        T(
            "balanced",
            "s",
            "returns True if every bracket in s ('()', '[]', '{}') is closed in order",
            "stack, pairs = [], {')': '(', ']': '[', '}': '{'}\n    for c in s:\n"
            "        if c in '([{':\n            stack.append(c)\n"
            "        elif not stack or stack.pop() != pairs[c]:\n"
            "            return False\n    return not stack",
            lambda k: _balanced,
            _brackets,
            (0, 0),
        ),
        T(
            "most_common_word",
            "s",
            "returns the most frequent word of s (the earliest one on ties)",
            "counts = {}\n    for w in s.split():\n        counts[w] = counts.get(w, 0) + 1\n"
            "    return max(counts, key=lambda w: (counts[w], -s.split().index(w)))",
            lambda k: lambda s: Counter(s.split()).most_common(1)[0][0],
            _words,
            (0, 0),
        ),
    ),
}


def generate(rng: random.Random, level: int) -> Example:
    check_level(level)
    t = pick(rng, LEVELS[level])
    k = rng.randint(*t.k)
    name, doc, body = (x.replace("{k}", str(k)) for x in (t.name, t.doc, t.body))
    code = f"def {name}({t.args}):\n    {body}\n"
    fn = t.twin(k)
    calls = {}
    while len(calls) < 3:  # three distinct test inputs
        args = t.inputs(rng)
        calls.setdefault(repr(args), (args, fn(*args)))
    tests = "\n".join(
        f"assert {name}({', '.join(map(repr, args))}) == {want!r}" for args, want in calls.values()
    )
    prompt = f"Write a Python function {name}({t.args}) that {doc}. It must pass:\n{tests}"
    return make_example(
        level,
        DOMAIN,
        prompt,
        code,
        solution=f"The function {doc}:\n{code}",
        tool_call=python_call(f"{code}\n{tests}\nprint('ok')"),
        checker="sandbox",
        tests=tests,
    )
