"""split_of: deterministic, normalisation-invariant, close to the requested fractions."""

from __future__ import annotations

from collections import Counter

import pytest

from agent_forge.data.splits import SPLITS, check_fractions, split_of


def test_same_prompt_same_split_whatever_the_whitespace():
    assert split_of("What is 3 + 4?") == split_of("  What is   3 + 4? \n")


def test_fractions_are_respected():
    counts = Counter(split_of(f"prompt {i}", (0.8, 0.1, 0.1)) for i in range(20_000))
    assert set(counts) == set(SPLITS)
    assert abs(counts["train"] / 20_000 - 0.8) < 0.02
    assert Counter(split_of(f"p{i}", (1.0, 0.0, 0.0)) for i in range(100)) == {"train": 100}


def test_bad_fractions():
    with pytest.raises(ValueError, match="sum to 1"):
        check_fractions((0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="3 non-negative"):
        check_fractions((0.5, 0.5))
