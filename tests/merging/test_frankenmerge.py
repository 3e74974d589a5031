from __future__ import annotations

import pytest
from torch.testing import assert_close

from agent_forge.merging import frankenmerge, merge_state_dicts, split_layer_key


def test_copies_whole_blocks(parent_sds):
    assignment = [0, 2, 1, 0]
    merged = merge_state_dicts("frankenmerge", parent_sds, layer_parents=assignment, rest_parent=2)
    assert set(merged) == set(parent_sds[0])
    for key, t in merged.items():
        loc = split_layer_key(key)
        src = 2 if loc is None else assignment[loc[0]]
        assert_close(t, parent_sds[src][key], rtol=0, atol=0)


def test_bad_assignment_raises(parent_sds):
    with pytest.raises(ValueError, match="3 entries for 4 layers"):
        frankenmerge(parent_sds, layer_parents=[0, 1, 2])
    with pytest.raises(ValueError, match="parent index 3"):
        frankenmerge(parent_sds, layer_parents=[0, 1, 2, 3])
