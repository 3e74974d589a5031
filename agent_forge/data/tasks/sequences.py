"""Number sequences and patterns: find the next term.

Level 1 counts up by one from a single digit; level 10 mixes a linear recurrence with an offset or
interleaves two different rules. Each rule is a small function so the worked solution can name it.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from agent_forge.data.tasks.base import Example, check_level, make_example, pick

DOMAIN = "sequences"
Rule = Callable[[random.Random], tuple[list[int], str]]  # -> (terms incl. the answer, explanation)


def _count(rng: random.Random) -> tuple[list[int], str]:
    a, n = rng.randint(0, 50), rng.randint(4, 6)
    return list(range(a, a + n)), "Each term is 1 more than the one before."


def _step(lo: int, hi: int, down: bool = False) -> Rule:
    def rule(rng: random.Random) -> tuple[list[int], str]:
        d, n = rng.randint(lo, hi), rng.randint(4, 6)
        if down and rng.random() < 0.5:
            a = rng.randint(d * n, d * n + 50)
            return [a - d * i for i in range(n)], f"Each term is {d} less than the one before."
        a = rng.randint(0, 40)
        return [a + d * i for i in range(n)], f"Each term is {d} more than the one before."

    return rule


def _geometric(rng: random.Random) -> tuple[list[int], str]:
    r, a, n = rng.randint(2, 5), rng.randint(1, 12), rng.randint(4, 5)
    return [a * r**i for i in range(n)], f"Each term is {r} times the one before."


def _squares(rng: random.Random) -> tuple[list[int], str]:
    a, k, n = rng.randint(1, 20), rng.randint(0, 9), rng.randint(4, 6)
    terms = [(a + i) ** 2 + k for i in range(n)]
    tail = f" plus {k}" if k else ""
    return terms, f"The terms are the squares of {a}, {a + 1}, {a + 2}, ...{tail}."


def _fibonacci(rng: random.Random) -> tuple[list[int], str]:
    t, n = [rng.randint(1, 9), rng.randint(1, 9)], rng.randint(6, 8)
    while len(t) < n:
        t.append(t[-1] + t[-2])
    return t, "Each term is the sum of the two terms before it."


def _quadratic(rng: random.Random) -> tuple[list[int], str]:
    a, d, dd = rng.randint(1, 20), rng.randint(1, 5), rng.randint(1, 4)
    t = [a]
    for i in range(5):
        t.append(t[-1] + d + dd * i)
    return t, f"The differences grow by {dd} each time: {d}, {d + dd}, {d + 2 * dd}, ..."


def _alternate(rng: random.Random) -> tuple[list[int], str]:
    p, q, a = rng.randint(2, 9), rng.randint(1, 5), rng.randint(1, 10)
    t = [a]
    for i in range(6):
        t.append(t[-1] + p if i % 2 == 0 else t[-1] - q)
    return t, f"The rule alternates: add {p}, then subtract {q}."


def _interleave(rng: random.Random) -> tuple[list[int], str]:
    a, d = rng.randint(1, 10), rng.randint(2, 6)
    b, r = rng.randint(1, 3), rng.randint(2, 3)
    t = []
    for i in range(4):
        t += [a + d * i, b * r**i]
    t = t[:7]  # the 7th term (index 6) belongs to the first sequence
    why = f"Two sequences interleave: odd positions add {d}, even positions multiply by {r}."
    return t, why


def _recurrence(rng: random.Random) -> tuple[list[int], str]:
    m, c, a = rng.randint(2, 3), rng.randint(-5, 9), rng.randint(1, 20)
    t = [a]
    for _ in range(5):
        t.append(t[-1] * m + c)
    sign = f"then add {c}" if c >= 0 else f"then subtract {-c}"
    return t, f"Each term is the one before times {m}, {sign}."


def _cubes(rng: random.Random) -> tuple[list[int], str]:
    a, k = rng.randint(1, 12), rng.randint(-5, 9)
    terms = [(a + i) ** 3 + k for i in range(5)]
    tail = f" plus {k}" if k > 0 else f" minus {-k}" if k < 0 else ""
    return terms, f"The terms are the cubes of {a}, {a + 1}, {a + 2}, ...{tail}."


LEVELS: dict[int, tuple[Rule, ...]] = {
    1: (_count,),
    2: (_step(2, 3),),
    3: (_step(2, 10, down=True),),
    4: (_geometric,),
    5: (_step(5, 25, down=True), _geometric),
    6: (_squares,),
    7: (_fibonacci, _alternate),
    8: (_quadratic,),
    9: (_interleave, _quadratic, _alternate),
    10: (_recurrence, _cubes),
}


def generate(rng: random.Random, level: int) -> Example:
    check_level(level)
    terms, why = pick(rng, LEVELS[level])(rng)
    shown, answer = terms[:-1], terms[-1]
    prompt = f"What number comes next in the sequence {', '.join(map(str, shown))}, ?"
    solution = f"{why} So the next term is {answer}."
    return make_example(
        level,
        DOMAIN,
        prompt,
        answer,
        solution=solution,
        checker="number",
    )
