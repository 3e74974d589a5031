from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from agent_forge.merging import count_layers, dfs, dfs_layer_path, merge_state_dicts

from .conftest import NUM_LAYERS, tiny_cognate
from .test_apply import _assert_state_dicts_equal

L = NUM_LAYERS


def test_identity_path_returns_parent_0(parent_sds):
    path = dfs_layer_path(3, L)  # 12 steps: parent 0's layers, then parent 1's, then parent 2's
    merged, depth = dfs(parent_sds, path=path, indicators=[True] * L + [False] * 2 * L)
    assert depth == L
    _assert_state_dicts_equal(merged, parent_sds[0])


def test_repeated_layers_build_a_deeper_model_that_runs(parent_sds):
    path = dfs_layer_path(3, L, repeats=2)  # 24 steps
    on = [False] * len(path)
    for step in (0, 1, 2, 3, 6, 11, 13):  # p0 l0..l3, p1 l2, p2 l3, then p0 l1 again
        on[step] = True
    scales = [1.0] * len(path)
    scales[6] = 0.5
    merged, depth = dfs(parent_sds, path=path, indicators=on, scales=scales)
    assert depth == 7 == count_layers(merged)
    assert_close(
        merged["model.layers.6.mlp.up_proj.weight"],
        parent_sds[0]["model.layers.1.mlp.up_proj.weight"],
    )
    for name in ("self_attn.o_proj.weight", "mlp.down_proj.weight"):
        assert_close(
            merged[f"model.layers.4.{name}"], 0.5 * parent_sds[1][f"model.layers.2.{name}"]
        )
    assert_close(
        merged["model.layers.4.self_attn.q_proj.weight"],
        parent_sds[1]["model.layers.2.self_attn.q_proj.weight"],
    )
    assert_close(
        merged["model.layers.5.input_layernorm.weight"],
        parent_sds[2]["model.layers.3.input_layernorm.weight"],
    )

    model = tiny_cognate(0, num_hidden_layers=depth).eval()
    model.load_state_dict(merged, strict=True)
    ids = torch.randint(0, 300, (1, 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    assert logits.shape == (1, 8, 300) and torch.isfinite(logits).all()


def test_merge_state_dicts_returns_the_renumbered_dict(parent_sds):
    path = [(0, 0), (0, 1), (0, 1), (2, 3), (0, 2), (0, 3)]
    merged = merge_state_dicts("dfs", parent_sds, path=path)
    assert count_layers(merged) == 6


def test_bad_configs_raise(parent_sds):
    with pytest.raises(ValueError, match="outside 3 parents x 4 layers"):
        dfs(parent_sds, path=[(0, 4)])
    with pytest.raises(ValueError, match="every step"):
        dfs(parent_sds, path=[(0, 0)], indicators=[False])
    with pytest.raises(ValueError, match="indicators 1"):
        dfs(parent_sds, path=[(0, 0), (0, 1)], indicators=[True])
