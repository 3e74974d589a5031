from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from agent_forge.merging import slerp


def test_endpoints():
    torch.manual_seed(0)
    a, b = torch.randn(4, 6), torch.randn(4, 6)
    assert_close(slerp([a, b], t=0.0), a)
    assert_close(slerp([a, b], t=1.0), b)


def test_orthogonal_unit_vectors_by_hand():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    # θ = π/2: weights sin(θ/2)/sin(θ) = √2/2 each, so the midpoint stays on the unit circle.
    assert_close(slerp([a, b], t=0.5), torch.tensor([math.sqrt(0.5), math.sqrt(0.5)]))
    assert_close(slerp([a, b], t=1 / 3), torch.tensor([math.cos(math.pi / 6), 0.5]))


@pytest.mark.parametrize("factor", [2.0, -3.0, 1.0])
def test_colinear_falls_back_to_lerp(factor):
    a = torch.tensor([[1.0, -2.0], [0.5, 3.0]])
    b = factor * a
    assert_close(slerp([a, b], t=0.25), torch.lerp(a, b, 0.25))


def test_zero_tensor_falls_back_to_lerp():
    a, b = torch.zeros(3), torch.tensor([1.0, 2.0, 3.0])
    assert_close(slerp([a, b], t=0.5), b / 2)


def test_needs_two_parents_and_t_in_range():
    a = torch.ones(2)
    with pytest.raises(ValueError, match="exactly 2"):
        slerp([a, a, a])
    with pytest.raises(ValueError, match="t must be"):
        slerp([a, a], t=1.5)
