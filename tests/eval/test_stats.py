"""Statistics on hand-worked cases."""

import math

import pytest
import torch

from agent_forge.eval.stats import majority_rate, unigram_loss, wilson_interval


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(8, 10)  # textbook: 0.490 .. 0.943
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and 0.1 < hi < 0.2


def test_majority_rate():
    assert majority_rate(["3", "3", "4", "5"]) == 0.5
    assert majority_rate([]) == 0.0


def test_unigram_loss_hand_computed():
    train = torch.tensor([0, 0, 1])  # counts+1 over vocab 3: [3, 2, 1] / 6
    val = torch.tensor([9 % 3, 0, 2])  # targets: 0 and 2
    expected = -(math.log(3 / 6) + math.log(1 / 6)) / 2
    assert unigram_loss(train, val, 3) == pytest.approx(expected)
