"""Pull the answer out of a generated text and compare it with a target (exact match).

Rules follow lm-evaluation-harness: GSM8K's strict "#### n" match with its flexible fallback (the
last number), ignoring ",", "$" and a trailing "."; numbers compare by value ("1,000" == "1000.0").
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from agent_forge.data.tasks.base import NUMBER_PATTERN as _NUM
from agent_forge.data.tasks.base import normalize_text, parse_number

RULES = ("first_line", "gsm8k", "number", "letter")

_NUMBER = re.compile(_NUM)  # the task generators' number syntax: "-1,234.5", "$12", "7%"
_HASHES = re.compile(rf"####\s*({_NUM})")
_ANSWER_IS = re.compile(rf"answer is\s*:?\s*({_NUM})", re.IGNORECASE)
_LETTER_SAID = re.compile(r"(?i:answer)(?:\s+is)?\s*:?\s*\(?([A-E])\b")
_LETTER_LEAD = re.compile(r"^\(?([A-E])(?:[).:,]|\s|$)")
_LETTER_ANY = re.compile(r"\b([A-E])\b")


def _clean_number(s: str) -> str:
    """lm-eval's GSM8K `regexes_to_ignore`: commas, dollar signs and a trailing full stop."""
    return s.replace(",", "").replace("$", "").rstrip(".")


def _last_number(text: str) -> str:
    found = _NUMBER.findall(text)
    return _clean_number(found[-1]) if found else ""


def _gsm8k(text: str) -> str:
    """The number after the first "#### ", else after the first "The answer is", else the last
    number in the text; "" when there is none."""
    for pattern in (_HASHES, _ANSWER_IS):
        m = pattern.search(text)
        if m:
            return _clean_number(m.group(1))
    return _last_number(text)


def _letter(text: str) -> str:
    """A choice letter A-E: "answer is (C)" first, then a leading "B." / "(B)" / "B", then the
    first standalone capital A-E; "" when there is none."""
    text = text.strip()
    for pattern in (_LETTER_SAID, _LETTER_LEAD, _LETTER_ANY):
        m = pattern.search(text)
        if m:
            return m.group(1)
    return ""


def extract_answer(text: str, rule: str) -> str:
    """The answer that `rule` reads from generated `text` ("" when it finds none)."""
    if rule == "first_line":
        return text.split("\n", 1)[0].strip()
    if rule == "gsm8k":
        return _gsm8k(text)
    if rule == "number":
        return _last_number(text)
    if rule == "letter":
        return _letter(text)
    raise ValueError(f"unknown answer rule {rule!r} (known: {', '.join(RULES)})")


def _canonical_number(s: str) -> str | None:
    """'1,000', '1000.0' and '$1000' -> '1000'; '0.50' -> '0.5'; None if `s` is not a number."""
    value = parse_number(s)
    if value is None:
        return None
    if value.denominator == 1:
        return str(value.numerator)
    try:  # a decimal literal: its fraction is finite in base 10, so this is exact
        d = (Decimal(value.numerator) / Decimal(value.denominator)).normalize()
    except InvalidOperation:
        return None
    return format(d, "f")


def normalize_answer(s: str) -> str:
    """Whitespace collapsed and stripped; a string that is one number (nothing else) in canonical
    form, so "1,000" == "1000" == "1000.0" == "$1000"."""
    bare = " ".join(s.split())
    number = _canonical_number(bare) if _NUMBER.fullmatch(bare.rstrip(".")) else None
    return number if number is not None else normalize_text(s)


def is_match(generated: str, target: str, rule: str) -> bool:
    """True when the answer `rule` extracts from `generated` equals `target` after
    normalisation; an empty extraction never matches."""
    got = extract_answer(generated, rule)
    if not got:
        return False
    if rule == "letter":
        return got == target.strip().upper()
    return normalize_answer(got) == normalize_answer(target)
