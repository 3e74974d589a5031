"""String manipulation: letters, lengths, reversal, case, counting, ciphers and compositions.

Level 1 asks for the first letter of a short word; level 10 chains three operations on a phrase.
Every answer is computed by a plain Python function here; the tool-call form is the same in code.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from agent_forge.data.tasks.base import Example, check_level, make_example, pick, python_call

DOMAIN = "strings"
WORDS = (
    "cat",
    "dog",
    "sun",
    "map",
    "cup",
    "hat",
    "red",
    "box",
    "pen",
    "sky",
    "tree",
    "fish",
    "book",
    "lamp",
    "rain",
    "moon",
    "star",
    "frog",
    "milk",
    "door",
    "bird",
    "cake",
    "ship",
    "road",
    "wind",
    "apple",
    "river",
    "stone",
    "music",
    "table",
    "green",
    "light",
    "water",
    "bread",
    "cloud",
    "horse",
    "train",
    "paper",
    "chair",
    "plant",
    "garden",
    "silver",
    "orange",
    "window",
    "planet",
    "rocket",
    "pencil",
    "forest",
    "bottle",
    "castle",
    "dragon",
    "basket",
    "winter",
    "summer",
    "banana",
    "number",
    "letter",
    "mirror",
    "puzzle",
    "island",
    "library",
    "balloon",
    "morning",
    "teacher",
    "kitchen",
    "picture",
    "journey",
    "blanket",
    "monster",
    "thunder",
)
VOWELS = "aeiou"


def caesar(s: str, k: int) -> str:
    return "".join(chr((ord(c) - 97 + k) % 26 + 97) if c.islower() else c for c in s)


CAESAR_CODE = "''.join(chr((ord(c) - 97 + {k}) % 26 + 97) if c.islower() else c for c in {s!r})"

# name -> (instruction, python function, python expression template over {s!r})
OPS: dict[str, tuple[str, Callable[[str], str], str]] = {
    "reverse": ("reverse it", lambda s: s[::-1], "{s!r}[::-1]"),
    "upper": ("make it uppercase", str.upper, "{s!r}.upper()"),
    "novowel": (
        "remove the vowels",
        lambda s: "".join(c for c in s if c.lower() not in VOWELS),
        "''.join(c for c in {s!r} if c.lower() not in 'aeiou')",
    ),
    "shift1": (
        "shift each letter one place forward in the alphabet",
        lambda s: caesar(s, 1),
        CAESAR_CODE.replace("{k}", "1"),
    ),
    "double": (
        "write each letter twice",
        lambda s: "".join(c * 2 for c in s),
        "''.join(c * 2 for c in {s!r})",
    ),
    "sortw": (
        "sort the words alphabetically",
        lambda s: " ".join(sorted(s.split())),
        "' '.join(sorted({s!r}.split()))",
    ),
}


def _phrase(rng: random.Random, n: int) -> str:
    return " ".join(rng.sample(WORDS, n))


def _simple(rng: random.Random, level: int) -> tuple[str, object, str, str]:
    """Levels 1-9: (prompt, answer, solution, python code)."""
    w = pick(rng, WORDS)
    if level == 1:
        return (
            f"What is the first letter of the word '{w}'?",
            w[0],
            f"'{w}' starts with '{w[0]}'.",
            f"print({w!r}[0])",
        )
    if level == 2:
        return (
            f"How many letters are in the word '{w}'?",
            len(w),
            f"{' '.join(w)}: {len(w)} letters.",
            f"print(len({w!r}))",
        )
    if level == 3:
        return (
            f"Write the word '{w}' backwards.",
            w[::-1],
            f"Reading from the end: {' '.join(w[::-1])}.",
            f"print({w!r}[::-1])",
        )
    if level in (4, 7):
        w = _phrase(rng, rng.randint(1, 2))
    if level == 4:
        return (
            f"Write '{w}' in uppercase letters.",
            w.upper(),
            f"Each letter becomes a capital: {w.upper()}.",
            f"print({w!r}.upper())",
        )
    return _harder(rng, level, w)


def _harder(rng: random.Random, level: int, w: str) -> tuple[str, object, str, str]:
    """Levels 5-9 (`w` is the word or phrase drawn for levels 7 and 8)."""
    if level == 5:
        s = _phrase(rng, 3)
        c = pick(rng, sorted(set(s.replace(" ", ""))))
        n = s.count(c)
        return (
            f"How many times does the letter '{c}' appear in '{s}'?",
            n,
            f"'{c}' appears {n} times.",
            f"print({s!r}.count({c!r}))",
        )
    if level == 6:
        s = _phrase(rng, rng.randint(3, 5))
        a = " ".join(s.split()[::-1])
        return (
            f"Reverse the order of the words in '{s}'.",
            a,
            f"The last word comes first: {a}.",
            f"print(' '.join({s!r}.split()[::-1]))",
        )
    if level == 7:
        a = OPS["novowel"][1](w)
        return (
            f"Remove all vowels from '{w}'.",
            a,
            f"Dropping a, e, i, o, u leaves {a}.",
            f"print({OPS['novowel'][2].format(s=w)})",
        )
    if level == 8:
        k = rng.randint(1, 3)
        a = caesar(w, k)
        sol = (
            f"Shift each letter {k} forward: "
            + ", ".join(f"{c}->{d}" for c, d in zip(w, a, strict=True))
            + "."
        )
        return (
            f"Shift each letter of '{w}' {k} place{'s' if k > 1 else ''} forward in the alphabet "
            "(z wraps to a).",
            a,
            sol,
            f"print({CAESAR_CODE.format(k=k, s=w)})",
        )
    s = _phrase(rng, 2)
    a = "".join(dict.fromkeys(s.replace(" ", "")))
    return (
        f"Write the letters of '{s}' without spaces, "
        "keeping only the first time each letter appears.",
        a,
        f"Going left to right and skipping repeats gives {a}.",
        f"print(''.join(dict.fromkeys({s!r}.replace(' ', ''))))",
    )


def _composed(rng: random.Random) -> tuple[str, object, str, str]:
    """Level 10: three operations applied in order to a two- or three-word phrase."""
    s = _phrase(rng, rng.randint(2, 3))
    names = rng.sample(list(OPS), 3)
    value, steps, expr = s, [], repr(s)
    for n in names:
        text, fn, code = OPS[n]
        value = fn(value)
        steps.append(f"{text}: {value}")
        expr = code.replace("{s!r}", "({e})").format(e=expr)
    instructions = ", then ".join(OPS[n][0] for n in names)
    prompt = f"Start with '{s}'. First {instructions}. What is the result?"
    return prompt, value, "\n".join(steps), f"print({expr})"


def generate(rng: random.Random, level: int) -> Example:
    check_level(level)
    prompt, answer, solution, code = _composed(rng) if level == 10 else _simple(rng, level)
    checker = "number" if isinstance(answer, int) else "text"
    return make_example(
        level,
        DOMAIN,
        prompt,
        answer,
        solution=solution,
        tool_call=python_call(code),
        checker=checker,
    )
