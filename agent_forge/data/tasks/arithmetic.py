"""Arithmetic expressions, level 1 = single-digit addition to level 10 = nested multi-step.

Each expression is a random tree; the worked solution reduces one innermost operation per line.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from agent_forge.data.tasks.base import Example, calculator_call, check_level, make_example, pick

DOMAIN = "arithmetic"
PREC = {"+": 1, "-": 1, "*": 2, "/": 2}

# level -> (number of operations, max operand, operators allowed)
LEVELS: dict[int, tuple[int, int, str]] = {
    1: (1, 9, "+"),
    2: (1, 9, "+-"),
    3: (1, 99, "+-"),
    4: (1, 9, "*"),
    5: (1, 99, "*/"),
    6: (2, 20, "+-*"),
    7: (3, 30, "+-*"),
    8: (3, 99, "+-*/"),
    9: (4, 99, "+-*/"),
    10: (5, 999, "+-*/"),
}


@dataclass
class Node:
    op: str
    left: Node | int
    right: Node | int


Tree = Node | int


def evaluate(t: Tree) -> int:
    if isinstance(t, int):
        return t
    a, b = evaluate(t.left), evaluate(t.right)
    if t.op == "+":
        return a + b
    if t.op == "-":
        return a - b
    if t.op == "*":
        return a * b
    assert b != 0 and a % b == 0, "generator guarantees exact division"
    return a // b


def render(t: Tree) -> str:
    if isinstance(t, int):
        return f"({t})" if t < 0 else str(t)
    left, right = render(t.left), render(t.right)
    if isinstance(t.left, Node) and PREC[t.left.op] < PREC[t.op]:
        left = f"({left})"
    # right operand needs brackets at equal precedence too: a - (b + c), a / (b * c)
    if isinstance(t.right, Node) and PREC[t.right.op] <= PREC[t.op]:
        right = f"({right})"
    return f"{left} {t.op} {right}"


def _divisors(n: int, cap: int) -> list[int]:
    n = abs(n)
    return [d for d in range(2, min(n, cap) + 1) if n % d == 0] if n else []


def _build(rng: random.Random, n_ops: int, hi: int, ops: str, neg: bool) -> Tree:
    if n_ops == 0:
        return rng.randint(0 if not neg else 1, hi)
    n_left = rng.randint(0, n_ops - 1)
    left = _build(rng, n_left, hi, ops, neg)
    op = pick(rng, ops)
    if op == "/":
        divs = _divisors(evaluate(left), min(hi, 12))
        if not divs:  # make the dividend a product so an exact divisor exists
            d = rng.randint(2, 9)
            return Node("/", Node("*", left, d), d)
        return Node("/", left, pick(rng, divs))
    right = _build(rng, n_ops - 1 - n_left, hi if op != "*" else min(hi, 12), ops, neg)
    if op == "-" and not neg and evaluate(right) > evaluate(left):
        left, right = right, left  # keep early levels non-negative
    return Node(op, left, right)


def _reduce_once(t: Tree) -> Tree:
    """Replace the leftmost innermost operation by its value."""
    assert isinstance(t, Node)
    if isinstance(t.left, int) and isinstance(t.right, int):
        return evaluate(t)
    if isinstance(t.left, Node):
        return Node(t.op, _reduce_once(t.left), t.right)
    return Node(t.op, t.left, _reduce_once(t.right))


def solve_steps(t: Tree) -> list[str]:
    steps = [render(t)]
    while isinstance(t, Node):
        t = _reduce_once(t)
        steps.append(str(t) if isinstance(t, int) else render(t))
    return steps


def generate(rng: random.Random, level: int) -> Example:
    check_level(level)
    n_ops, hi, ops = LEVELS[level]
    tree = _build(rng, n_ops, hi, ops, neg=level >= 7)
    expr, value = render(tree), evaluate(tree)
    steps = solve_steps(tree)
    solution = "\n".join(f"= {s}" if i else s for i, s in enumerate(steps))
    return make_example(
        level,
        DOMAIN,
        f"What is {expr}?",
        value,
        solution=solution,
        tool_call=calculator_call(expr),
        checker="number",
    )
