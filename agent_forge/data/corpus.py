"""A deterministic, templated explanatory and narrative corpus, so small models learn language and
not only answers: number facts, definitions, procedures with worked instances, short stories, and
worked task solutions written out as prose. Same seed, same documents.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from agent_forge.data.splits import DEFAULT_FRACTIONS, split_of
from agent_forge.data.tasks import DOMAINS, generate
from agent_forge.data.tasks.base import pick
from agent_forge.data.tasks.strings import WORDS
from agent_forge.data.tasks.word_problems import ITEMS, NAMES

ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen \
fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """English words for 0 <= n < 1,000,000 ('three hundred and four')."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else "-" + ONES[n % 10])
    if n < 1000:
        rest = "" if n % 100 == 0 else " and " + number_words(n % 100)
        return ONES[n // 100] + " hundred" + rest
    rest = "" if n % 1000 == 0 else (" and " if n % 1000 < 100 else " ") + number_words(n % 1000)
    return number_words(n // 1000) + " thousand" + rest


def _number_facts(rng: random.Random) -> str:
    a, b = rng.randint(0, 99), rng.randint(1, 20)
    who, item = pick(rng, NAMES), pick(rng, ITEMS)
    parity = "even" if a % 2 == 0 else "odd"
    lines = [
        f"{number_words(a).capitalize()} plus {number_words(b)} is {number_words(a + b)}, "
        f"which we write as {a} + {b} = {a + b}.",
        f"If {who} has {a} {item} and gets {b} more, {who} has {a + b} {item}.",
        f"Taking {b} away from {a + b} brings us back to {a}, because subtraction undoes addition.",
        f"{number_words(a).capitalize()} is an {parity} number"
        + (f": it is two times {a // 2}." if parity == "even" else ": halving it leaves one over."),
        f"{b} times {b % 10 + 2} is {b * (b % 10 + 2)}; adding {b} to itself {b % 10 + 2} times "
        "gives the same result.",
    ]
    rng.shuffle(lines)
    return " ".join(lines[: rng.randint(3, 5)])


DEFINITIONS = (
    ("An even number", "can be split into two equal whole parts", lambda r: 2 * r.randint(1, 50)),
    ("A multiple of five", "ends in 0 or 5", lambda r: 5 * r.randint(1, 40)),
    ("A square number", "is a whole number times itself", lambda r: r.randint(1, 15) ** 2),
    (
        "A prime number",
        "has exactly two divisors, one and itself",
        lambda r: pick(r, (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)),
    ),
    ("A multiple of ten", "ends in a zero", lambda r: 10 * r.randint(1, 30)),
)


def _definition(rng: random.Random) -> str:
    name, rule, example = pick(rng, DEFINITIONS)
    x, y = example(rng), example(rng)
    while y == x:
        y = example(rng)
    return (
        f"{name} is a number that {rule}. For example, {x} is one, and so is {y}. "
        f"When you are not sure, check the rule on the number itself: "
        f"{number_words(x)} is written {x}, and it {rule}."
    )


PROCEDURES: tuple[Callable[[random.Random], str], ...] = (
    lambda r: (
        lambda a, b: (
            f"To add {a} and {b} in columns, first add the ones: "
            f"{a % 10} + {b % 10} = {a % 10 + b % 10}. "
            f"Write down {(a % 10 + b % 10) % 10} and carry {(a % 10 + b % 10) // 10}. Then add "
            f"the tens with the carry: {a // 10} + {b // 10} + {(a % 10 + b % 10) // 10} = "
            f"{a // 10 + b // 10 + (a % 10 + b % 10) // 10}. The total is {a + b}."
        )
    )(r.randint(10, 99), r.randint(10, 99)),
    lambda r: (
        lambda w: (
            f"To reverse a word, read its letters from the last to the first. The word {w} has "
            f"{len(w)} letters: {', '.join(w)}. Read backwards they spell {w[::-1]}."
        )
    )(pick(r, WORDS)),
    lambda r: (
        lambda xs: (
            f"To sort the numbers {', '.join(map(str, xs))}, find the smallest, write it down, and "
            f"repeat with what is left. The smallest is {min(xs)}, the largest is {max(xs)}, "
            f"and the "
            f"sorted list is {', '.join(map(str, sorted(xs)))}."
        )
    )(r.sample(range(100), r.randint(3, 6))),
    lambda r: (
        lambda a, d: (
            f"To continue a sequence, look at the differences between neighbours. In "
            f"{', '.join(str(a + d * i) for i in range(4))} each difference is {d}, so the next "
            f"term is {a + 4 * d} and the one after that is {a + 5 * d}."
        )
    )(r.randint(0, 30), r.randint(2, 9)),
    lambda r: (
        lambda k, v: (
            f"To look up a value, scan the lines until the key matches. If the notes say "
            f"{k} = {v}, then the value of {k} is {v}. When a key appears twice, the later line "
            "replaces the earlier one."
        )
    )("".join(r.sample("bdfgklmnprst", 2)) + pick(r, "aeiou"), r.randint(100, 999)),
)

PLACES = (
    "a small village",
    "the harbour",
    "a busy market",
    "the old library",
    "a hill farm",
    "the school garden",
    "a quiet forest",
    "the train station",
    "a workshop",
    "the beach",
)
GOALS = (
    "count the {item} before the fair",
    "share the {item} fairly with friends",
    "find the missing {item}",
    "sort the {item} into boxes",
    "build a tower of {item}",
)
TROUBLES = (
    "the wind knocked the {item} over",
    "someone had mixed up the labels",
    "the numbers in the notebook did not add up",
    "it started to rain",
    "half of the {item} were in the wrong place",
)
FIXES = (
    "counted again slowly, one by one",
    "wrote every step on a piece of paper",
    "asked {friend} to check the sums",
    "made a list and sorted it",
    "split the work into small steps",
)
ENDINGS = (
    "In the end there were {n} {item}, exactly as planned.",
    "By evening the job was done and {friend} said thank you.",
    "{who} learned that careful steps beat hurried guesses.",
    "Everyone agreed that checking the answer had been worth it.",
)


def _story(rng: random.Random) -> str:
    who = pick(rng, NAMES)
    fill = {
        "who": who,
        "friend": pick(rng, [n for n in NAMES if n != who]),
        "item": pick(rng, ITEMS),
        "n": rng.randint(3, 60),
    }
    parts = [
        f"{who} lived near {pick(rng, PLACES)}.",
        f"One day {who} wanted to {pick(rng, GOALS)}.",
        f"But {pick(rng, TROUBLES)}.",
        f"So {who} {pick(rng, FIXES)}.",
        pick(rng, ENDINGS),
    ]
    return " ".join(p.format(**fill) for p in parts)


FACTS = (
    "Water freezes at zero degrees Celsius and boils at one hundred degrees at sea level.",
    "A week has seven days, and a year usually has three hundred and sixty-five.",
    "Plants use sunlight, water and air to make their own food.",
    "The Moon goes around the Earth about once a month.",
    "Sound travels faster through water than through air.",
    "A triangle has three sides, a square has four and a hexagon has six.",
    "Bees carry pollen from flower to flower, which helps fruit to grow.",
    "An hour has sixty minutes and a minute has sixty seconds.",
    "Heavy and light objects fall at the same speed when there is no air to slow them.",
    "A map uses a small drawing to show a large place.",
    "Clocks count hours in twelves, while a day has twenty-four hours.",
    "Ice floats because it is lighter than the same amount of liquid water.",
    "A recipe is a list of steps, and the order of the steps matters.",
    "Rivers flow downhill and usually end in a lake or the sea.",
    "A dictionary lists words in alphabetical order, so you can find one quickly.",
    "Computers store numbers as patterns of ones and zeros.",
    "A good plan breaks a large job into small steps that can each be checked.",
    "Shadows are longest in the morning and the evening, when the sun is low.",
    "Doubling a number and then halving it gives the number you started with.",
    "Adding the same numbers in a different order gives the same total.",
)
LINKS = ("Also, ", "Another fact: ", "In the same way, ", "It is also true that ", "")


def _facts(rng: random.Random) -> str:
    chosen = rng.sample(FACTS, rng.randint(2, 4))
    out = [chosen[0]]
    for f in chosen[1:]:
        link = pick(rng, LINKS)
        out.append(link + (f[0].lower() + f[1:] if link else f))
    return " ".join(out)


def _worked(rng: random.Random, fractions: tuple[float, ...]) -> str:
    """A generated task written out; only train-split prompts, so eval prompts never leak."""
    ex = generate(pick(rng, DOMAINS), rng, rng.randint(1, 10))
    while split_of(ex.prompt, fractions) != "train":
        ex = generate(ex.domain, rng, ex.level)
    work = ex.solution or ""
    if ex.checker == "sandbox":  # the solution already ends in the code
        return f"Task: {ex.prompt}\n{work}"
    return f"Question: {ex.prompt}\nLet us work it out.\n{work}\nSo the answer is {ex.answer}."


KINDS: tuple[Callable[[random.Random], str], ...] = (
    _number_facts,
    _definition,
    lambda r: pick(r, PROCEDURES)(r),
    _story,
    _facts,
)


def iter_corpus(seed: int, fractions: tuple[float, ...] = DEFAULT_FRACTIONS) -> Iterator[str]:
    """An endless deterministic stream of documents; one in six is a worked task whose prompt
    belongs to the train split under `fractions`."""
    rng = random.Random(f"corpus:{seed}")
    while True:
        k = rng.randrange(len(KINDS) + 1)
        yield _worked(rng, fractions) if k == len(KINDS) else KINDS[k](rng)


def generate_corpus(
    seed: int, min_bytes: int, fractions: tuple[float, ...] = DEFAULT_FRACTIONS
) -> list[str]:
    """Documents from `iter_corpus(seed)` until their UTF-8 size reaches `min_bytes`."""
    docs, size = [], 0
    for doc in iter_corpus(seed, fractions):
        if size >= min_bytes:
            break
        docs.append(doc)
        size += len(doc.encode("utf-8")) + 1
    return docs
