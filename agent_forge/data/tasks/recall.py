"""Key-value recall over long contexts (for the memory components; cf. needle-in-a-haystack and
the associative-recall tasks of Ba et al. 2016 / Arora et al. 2023).

Level 1 looks one of two single-letter keys up; level 10 follows a three-hop chain of links hidden
among 64 pairs. Levels 7-8 overwrite a key later in the context (the last assignment wins).
"""

from __future__ import annotations

import random

from agent_forge.data.tasks.base import Example, check_level, make_example

DOMAIN = "recall"
PAIRS = {1: 2, 2: 3, 3: 5, 4: 8, 5: 12, 6: 16, 7: 24, 8: 32, 9: 48, 10: 64}
HOPS = {9: 2, 10: 3}
CONSONANTS, VOWELS = "bdfgklmnprstvz", "aeiou"


def _keys(rng: random.Random, n: int, level: int) -> list[str]:
    if level <= 2:
        return rng.sample("abcdefghijklmnopqrstuvwxyz", n)
    keys: set[str] = set()
    out = []
    while len(out) < n:
        k = "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(2))
        if k not in keys:
            keys.add(k)
            out.append(k)
    return out


def _value(rng: random.Random, level: int) -> int:
    return (
        rng.randint(1, 9)
        if level == 1
        else rng.randint(10, 99)
        if level == 2
        else rng.randint(100, 999)
    )


def generate(rng: random.Random, level: int) -> Example:
    check_level(level)
    n, hops = PAIRS[level], HOPS.get(level, 0)
    keys = _keys(rng, n, level)
    lines = [(k, str(_value(rng, level))) for k in keys]
    target = rng.randrange(n)
    asked = keys[target]
    if hops:  # keys[target] -> ... -> a number, links scattered through the context
        chain = [target, *rng.sample([i for i in range(n) if i != target], hops)]
        for a, b in zip(chain, chain[1:], strict=False):
            lines[a] = (keys[a], keys[b])
        answer = lines[chain[-1]][1]
        path = " -> ".join([*(keys[i] for i in chain), answer])
        solution = f"Following the links: {path}."
        question = f"Start at {asked} and follow the links until you reach a number. Which number?"
    elif level in (7, 8):
        new = str(_value(rng, level))
        while new == lines[target][1]:
            new = str(_value(rng, level))
        old = lines[target][1]
        lines.insert(rng.randint(target + 1, len(lines)), (asked, new))
        answer = new
        solution = (
            f"{asked} is set to {old} and later to {new}; the last assignment wins, so {new}."
        )
        question = f"Later lines override earlier ones. What is the value of {asked}?"
    else:
        answer = lines[target][1]
        solution = f"The line '{asked} = {answer}' gives {answer}."
        question = f"What is the value of {asked}?"
    context = "\n".join(f"{k} = {v}" for k, v in lines)
    prompt = f"Remember these assignments.\n{context}\n{question}"
    return make_example(level, DOMAIN, prompt, answer, solution=solution, checker="number")
