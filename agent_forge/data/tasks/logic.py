"""Logic and comparison: bigger/smaller, yes/no comparisons, sorting, boolean expressions and
orderings deduced from shuffled pairwise statements (transitive inference).

Level 1 picks the larger of two digits; level 10 ranks six people from eight shuffled statements.
"""

from __future__ import annotations

import random

from agent_forge.data.tasks.base import Example, check_level, make_example, pick, python_call
from agent_forge.data.tasks.word_problems import NAMES

DOMAIN = "logic"
# (comparative, opposite, superlative, opposite superlative)
RELATIONS = (
    ("taller", "shorter", "tallest", "shortest"),
    ("older", "younger", "oldest", "youngest"),
    ("faster", "slower", "fastest", "slowest"),
    ("heavier", "lighter", "heaviest", "lightest"),
)
ORDINALS = ("", "first", "second", "third", "fourth", "fifth", "sixth")


def _larger(rng: random.Random, level: int) -> Example:
    hi = 9 if level == 1 else 99
    k = 2 if level == 1 else 3
    nums = rng.sample(range(hi + 1), k)
    if level == 1:
        ans, prompt = max(nums), f"Which is larger, {nums[0]} or {nums[1]}?"
    else:
        ans, prompt = min(nums), f"Which is the smallest of {', '.join(map(str, nums))}?"
    sol = f"Comparing {', '.join(map(str, nums))}, the answer is {ans}."
    return make_example(level, DOMAIN, prompt, ans, solution=sol, checker="number")


def _yes_no(rng: random.Random, level: int) -> Example:
    a, b = rng.sample(range(100), 2)
    rel, op = pick(rng, (("greater than", ">"), ("less than", "<")))
    truth = a > b if op == ">" else a < b
    ans = "yes" if truth else "no"
    prompt = f"Is {a} {rel} {b}? Answer yes or no."
    sol = f"{a} {op} {b} is {truth}, so the answer is {ans}."
    return make_example(
        level,
        DOMAIN,
        prompt,
        ans,
        solution=sol,
        checker="text_ci",
        tool_call=python_call(f"print({a} {op} {b})"),
    )


def _sort(rng: random.Random, level: int) -> Example:
    nums = rng.sample(range(100), 4)
    ans = ", ".join(map(str, sorted(nums)))
    prompt = f"Sort these numbers from smallest to largest: {', '.join(map(str, nums))}"
    sol = f"The smallest is {min(nums)} and the largest is {max(nums)}; in order: {ans}."
    return make_example(
        level,
        DOMAIN,
        prompt,
        ans,
        solution=sol,
        checker="text",
        tool_call=python_call(f"print(sorted({nums}))"),
    )


def _bool_expr(rng: random.Random, depth: int, names: list[str], env: dict) -> tuple[str, bool]:
    if depth == 0:
        if names and rng.random() < 0.7:
            n = pick(rng, names)
            return n, env[n]
        v = rng.random() < 0.5
        return str(v), v
    if rng.random() < 0.25:
        s, v = _bool_expr(rng, depth - 1, names, env)
        return f"not {s}" if depth == 1 else f"not ({s})", not v
    op = pick(rng, ("and", "or"))
    (ls, lv), (rs, rv) = (_bool_expr(rng, depth - 1, names, env) for _ in range(2))
    ls, rs = (f"({s})" if " " in s and not s.startswith("not ") else s for s in (ls, rs))
    return f"{ls} {op} {rs}", (lv and rv) if op == "and" else (lv or rv)


def _boolean(rng: random.Random, level: int) -> Example:
    names = [] if level == 5 else ["a", "b", "c"]
    env = {n: rng.random() < 0.5 for n in names}
    expr, value = _bool_expr(rng, 2, names, env)
    given = ", ".join(f"{n} = {env[n]}" for n in names)
    prompt = (f"Let {given}. " if names else "") + f"What is the value of {expr}?"
    code = "".join(f"{n} = {env[n]}\n" for n in names) + f"print({expr})"
    sol = f"Evaluating {expr} step by step gives {value}."
    return make_example(
        level, DOMAIN, prompt, value, solution=sol, checker="text_ci", tool_call=python_call(code)
    )


def _ordering(rng: random.Random, level: int) -> Example:
    n = {6: 3, 7: 4, 9: 5, 10: 6}[level]
    people = rng.sample(NAMES, n)  # people[0] has the most of the quality
    comp, opp, sup, opp_sup = pick(rng, RELATIONS)
    pairs = [(people[i], people[i + 1]) for i in range(n - 1)]
    if level == 10:  # redundant non-adjacent facts as distractors
        extra = [(i, j) for i in range(n) for j in range(i + 2, n)]
        pairs += [(people[i], people[j]) for i, j in rng.sample(extra, 2)]
    facts = []
    for hi, lo in pairs:
        facts.append(
            f"{hi} is {comp} than {lo}." if rng.random() < 0.5 else f"{lo} is {opp} than {hi}."
        )
    rng.shuffle(facts)
    order = ", ".join(people)
    q = rng.randrange(3) if level >= 9 else rng.randrange(2)
    if q == 0:
        prompt_q, ans = f"Who is the {sup}?", people[0]
    elif q == 1 and level != 7:
        prompt_q, ans = f"Who is the {opp_sup}?", people[-1]
    elif q == 1:
        i, j = sorted(rng.sample(range(n), 2))
        a, b = (people[i], people[j]) if rng.random() < 0.5 else (people[j], people[i])
        prompt_q, ans = (
            f"Is {a} {comp} than {b}? Answer yes or no.",
            "yes" if a == people[i] else "no",
        )
    else:
        k = rng.randint(2, n - 1)
        prompt_q, ans = f"Who is the {ORDINALS[k]} {sup}?", people[k - 1]
    sol = f"From {sup} to {opp_sup} the order is {order}. So the answer is {ans}."
    prompt = " ".join(facts) + " " + prompt_q
    return make_example(level, DOMAIN, prompt, ans, solution=sol, checker="text_ci")


LEVELS = {1: _larger, 2: _larger, 3: _yes_no, 4: _sort, 5: _boolean, 6: _ordering}
LEVELS |= {7: _ordering, 8: _boolean, 9: _ordering, 10: _ordering}


def generate(rng: random.Random, level: int) -> Example:
    check_level(level)
    return LEVELS[level](rng, level)
