from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from agent_forge.merging import task_arithmetic


def test_by_hand():
    base = torch.tensor([1.0, 1.0])
    t1, t2 = torch.tensor([2.0, 1.0]), torch.tensor([1.0, 3.0])  # task vectors (1, 0) and (0, 2)
    assert_close(task_arithmetic([t1, t2], base), torch.tensor([1.5, 2.0]))
    assert_close(task_arithmetic([t1, t2], base, weights=[1.0, 1.0]), torch.tensor([2.0, 3.0]))
    assert_close(task_arithmetic([t1, t2], base, weights=[0.5, -1.0]), torch.tensor([1.5, -1.0]))


def test_needs_base():
    with pytest.raises(ValueError, match="base"):
        task_arithmetic([torch.ones(2)], None)
