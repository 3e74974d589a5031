from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from agent_forge.merging import linear, merge_state_dicts

from .test_apply import _assert_state_dicts_equal

A, B, C = torch.tensor([1.0, 2.0]), torch.tensor([3.0, -2.0]), torch.tensor([5.0, 0.0])


def test_weights_one_zero_zero_return_the_first_parent(parent_sds):
    merged = merge_state_dicts("linear", parent_sds, weights=[1.0, 0.0, 0.0])
    _assert_state_dicts_equal(merged, parent_sds[0])


def test_normalised_and_raw_weights():
    assert_close(linear([A, B, C]), torch.tensor([3.0, 0.0]))
    assert_close(linear([A, B], weights=[2.0, 6.0]), torch.tensor([2.5, -1.0]))
    assert_close(linear([A, B], weights=[2.0, 6.0], normalize=False), torch.tensor([20.0, -8.0]))
    assert_close(linear([A, B], normalize=False), torch.tensor([2.0, 0.0]))


def test_bad_weights_raise():
    with pytest.raises(ValueError, match="2 weights for 3 parents"):
        linear([A, B, C], weights=[1.0, 1.0])
    with pytest.raises(ValueError, match="sum to 0"):
        linear([A, B], weights=[1.0, -1.0])
