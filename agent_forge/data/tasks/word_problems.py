"""GSM8K-style multi-step word problems (Cobbe et al. 2021), built as a chain of quantity updates.

Level 1 is one single-digit addition in words; level 10 is seven steps with products, equal shares
and a final price question. The worked solution has one equation per step.
"""

from __future__ import annotations

import random

from agent_forge.data.tasks.base import Example, calculator_call, check_level, make_example, pick

DOMAIN = "word_problems"
NAMES = (
    "Ann",
    "Ben",
    "Carla",
    "Dev",
    "Emma",
    "Farid",
    "Grace",
    "Hugo",
    "Iris",
    "Jonas",
    "Keiko",
    "Liam",
    "Maya",
    "Noor",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tariq",
    "Uma",
    "Victor",
    "Wen",
    "Yara",
    "Zoe",
)
ITEMS = (
    "apples",
    "marbles",
    "stickers",
    "books",
    "pencils",
    "shells",
    "cards",
    "coins",
    "eggs",
    "stamps",
    "buttons",
    "cookies",
    "plums",
    "beads",
    "toy cars",
    "postcards",
    "candles",
    "cups",
)
CONTAINERS = ("boxes", "bags", "packs", "jars", "baskets", "crates")

# level -> (steps, max start/addend, operations drawn from)
LEVELS: dict[int, tuple[int, int, str]] = {
    1: (1, 5, "+"),
    2: (1, 9, "+-"),
    3: (2, 20, "+-"),
    4: (2, 12, "+-*"),
    5: (3, 30, "+-*"),
    6: (3, 30, "+-*g/"),
    7: (4, 40, "+-*g/"),
    8: (5, 50, "+-*g/"),
    9: (6, 60, "+-*g/"),
    10: (7, 99, "+-*g/"),
}
TIMES = {2: "doubles", 3: "triples", 4: "quadruples"}


def _q(n: int, item: str) -> str:
    """'1 apple', '3 apples' (every item name is a regular plural)."""
    return f"{n} {item[:-1] if n == 1 else item}"


def _step(rng: random.Random, op: str, value: int, hi: int, who: str, item: str) -> tuple:
    """One update: returns (sentence, new value, equation, expression suffix) or None if invalid."""
    friend = pick(rng, [n for n in NAMES if n != who])
    if op == "+":
        n = rng.randint(1, hi)
        verb = pick(rng, ("buys", "finds", "is given", "collects"))
        return (
            f"Then {who} {verb} {n} more {item if n > 1 else item[:-1]}.",
            value + n,
            f"{value} + {n}",
            ("+", n),
        )
    if op == "-":
        if value < 2:
            return None
        n = rng.randint(1, value - 1)
        q = _q(n, item)
        verb = pick(rng, (f"gives {q} to {friend}", f"loses {q}", f"uses {q}"))
        return f"Then {who} {verb}.", value - n, f"{value} - {n}", ("-", n)
    if op == "*":
        if value > 120:  # keep totals GSM-sized: no multiplying already large amounts
            return None
        k = rng.randint(2, 4)
        return f"Then the number of {item} {TIMES[k]}.", value * k, f"{value} * {k}", ("*", k)
    if op == "g":
        k, n = rng.randint(2, 6), rng.randint(2, 12)
        box = pick(rng, CONTAINERS)
        text = f"Then {who} buys {k} {box} of {item} with {_q(n, item)} in each."
        return text, value + k * n, f"{value} + {k} * {n}", ("+", f"{k} * {n}")
    divs = [d for d in range(2, 7) if value % d == 0 and value // d > 0]
    if not divs:
        return None
    k = pick(rng, divs)
    text = f"Then {who} splits the {item} into {k} equal groups and keeps one group."
    return text, value // k, f"{value} / {k}", ("/", k)


def generate(rng: random.Random, level: int) -> Example:
    check_level(level)
    n_steps, hi, ops = LEVELS[level]
    who, item = pick(rng, NAMES), pick(rng, ITEMS)
    value = rng.randint(1, hi)
    sentences = [f"{who} has {_q(value, item)}."]
    lines = [f"{who} starts with {_q(value, item)}."]
    expr, compound = str(value), False
    while len(sentences) <= n_steps:
        step = _step(rng, pick(rng, ops), value, hi, who, item)
        if step is None:
            continue
        text, new, equation, (op, operand) = step
        sentences.append(text)
        lines.append(f"{equation} = {new}")
        if op in "*/" and compound:
            expr = f"({expr})"
        expr, compound, value = f"{expr} {op} {operand}", op in "+-" or compound, new
    question = f"How many {item} does {who} have now?"
    if level >= 8:
        price = rng.randint(2, 9)
        sentences.append(f"Each of the {item} is worth ${price}.")
        question = f"How many dollars are all of {who}'s {item} worth?"
        lines.append(f"{value} * {price} = {value * price}")
        expr = f"({expr}) * {price}" if compound else f"{expr} * {price}"
        value *= price
    prompt = " ".join(sentences) + " " + question
    return make_example(
        level,
        DOMAIN,
        prompt,
        value,
        solution="\n".join(lines),
        tool_call=calculator_call(expr),
        checker="number",
    )
