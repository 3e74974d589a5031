from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from agent_forge.merging import dare


def test_expected_value_is_preserved():
    torch.manual_seed(0)
    base, tv = torch.randn(1000), torch.randn(1000)
    outs = torch.stack([dare([base + tv], base, p=0.9, seed=s) for s in range(200)])
    deltas = outs - base  # (200, 1000): each entry 0 or tv / 0.1
    kept = (deltas != 0).float().mean()
    assert abs(kept.item() - 0.1) < 0.01
    # E[delta] = tv: the mean ratio over 200 x 1000 draws has std ~ 3 / sqrt(2e5) ~ 0.007.
    assert abs((deltas / tv).mean().item() - 1.0) < 0.03


def test_deterministic_for_a_seed():
    torch.manual_seed(1)
    base, a, b = torch.randn(50), torch.randn(50), torch.randn(50)
    assert_close(dare([a, b], base, p=0.5, seed=3), dare([a, b], base, p=0.5, seed=3))
    assert not torch.equal(dare([a, b], base, p=0.5, seed=3), dare([a, b], base, p=0.5, seed=4))


def test_p_zero_is_task_arithmetic_with_weights():
    base = torch.zeros(3)
    a, b = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([3.0, 0.0, -1.0])
    assert_close(dare([a, b], base, p=0.0), torch.tensor([2.0, 1.0, 1.0]))
    assert_close(dare([a, b], base, p=0.0, weights=[1.0, 2.0]), torch.tensor([7.0, 2.0, 1.0]))


def test_bad_p_raises():
    with pytest.raises(ValueError, match="p must be"):
        dare([torch.ones(2)], torch.zeros(2), p=1.0)
