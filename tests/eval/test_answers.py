"""Answer extraction and normalisation on hand-made generations with known answers."""

from __future__ import annotations

import pytest

from agent_forge.eval.answers import RULES, extract_answer, is_match, normalize_answer

GSM8K_WORKED = (
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"
)


@pytest.mark.parametrize(
    ("text", "rule", "want"),
    [
        (" 42\nQuestion: next", "first_line", "42"),
        ("Paris", "first_line", "Paris"),
        ("\nlate", "first_line", ""),
        (GSM8K_WORKED, "gsm8k", "72"),
        ("so 3 + 4 = 7\n#### 1,234\n\nQuestion: 99", "gsm8k", "1234"),  # "####" beats later numbers
        ("#### $18.", "gsm8k", "18"),
        ("#### -3", "gsm8k", "-3"),
        ("5 + 5 = 10, so The answer is $1,000.", "gsm8k", "1000"),
        ("She has 3 cats and 2.5 dogs.", "gsm8k", "2.5"),  # flexible: the last number
        ("no number here", "gsm8k", ""),
        ("between 4 and 19.", "number", "19"),
        ("costs $1,250 in 2023", "number", "2023"),
        ("B", "letter", "B"),
        (" (C) because", "letter", "C"),
        ("D. The reactor", "letter", "D"),
        ("I think the answer is (E).", "letter", "E"),
        ("Answer: A", "letter", "A"),
        ("the answer is b", "letter", ""),  # lower case is not a choice letter
        ("none of them", "letter", ""),
    ],
)
def test_extract_answer(text, rule, want):
    assert extract_answer(text, rule) == want


def test_unknown_rule_names_the_known_ones():
    with pytest.raises(ValueError, match="first_line, gsm8k, number, letter"):
        extract_answer("1", "regex")
    assert RULES == ("first_line", "gsm8k", "number", "letter")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1,000", "1000"),
        ("1000", "1000.0"),
        ("$1,000.00", "1000"),
        ("0.50", "0.5"),
        ("-3.0", "-3"),
        ("7.", "7"),
        ("  New   York ", "New York"),
        ("a,b", "a, b"),
    ],
)
def test_normalize_answer_equal(a, b):
    assert normalize_answer(a) == normalize_answer(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [("1000", "100"), ("x = 7", "7"), ("12", "1.2"), ("New York", "new york"), ("-3", "3")],
)
def test_normalize_answer_different(a, b):
    assert normalize_answer(a) != normalize_answer(b)


def test_normalize_answer_canonical_forms():
    assert normalize_answer("1,000") == "1000"
    assert normalize_answer("1000.0") == "1000"
    assert normalize_answer("0.250") == "0.25"
    assert normalize_answer("-0") == "0"
    assert normalize_answer(" a \n b ") == "a b"


@pytest.mark.parametrize(
    ("generated", "target", "rule", "ok"),
    [
        (" " + GSM8K_WORKED, "72", "gsm8k", True),
        ("blah #### 72.0", "72", "gsm8k", True),
        ("so #### 1,000", "1000", "gsm8k", True),
        ("#### 71", "72", "gsm8k", False),
        ("", "0", "gsm8k", False),  # nothing extracted never matches
        (" 1,000\nmore", "1000", "first_line", True),
        (" paris\n", "Paris", "first_line", False),  # exact match is case-sensitive
        ("it is 36.0 cm", "36", "number", True),
        ("(B)", "B", "letter", True),
        ("(B)", "b", "letter", True),
        ("A", "B", "letter", False),
        ("", "", "first_line", False),
    ],
)
def test_is_match(generated, target, rule, ok):
    assert is_match(generated, target, rule) is ok
