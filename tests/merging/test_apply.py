"""The contract every registered merge method keeps, and the loop's own checks
(merging/apply.py).
"""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from agent_forge.errors import NotFoundError
from agent_forge.merging import METHODS, count_layers, dfs_layer_path, merge_state_dicts

from .conftest import NUM_LAYERS

L = NUM_LAYERS
# method -> (number of parents, config that keeps identical parents intact,
#            config selecting parent 1).
# ties trims and dare drops by design, so identity holds at density 1 / p = 0 (their sparse
# behaviour is tested in test_ties.py and test_dare.py).
CASES = {
    "linear": (3, {}, {"weights": [0.0, 1.0, 0.0]}),
    "slerp": (2, {"t": 0.3}, {"t": 1.0}),
    "task_arithmetic": (3, {}, {"weights": [0.0, 1.0, 0.0]}),
    "ties": (3, {"density": 1.0}, {"weights": [0.0, 1.0, 0.0], "density": 1.0}),
    "dare": (3, {"p": 0.0}, {"weights": [0.0, 1.0, 0.0], "p": 0.0}),
    "frankenmerge": (
        3,
        {"layer_parents": [0, 2, 1, 0]},
        {"layer_parents": [1] * L, "rest_parent": 1},
    ),
    "dfs": (
        3,
        {"path": dfs_layer_path(1, L)},
        {"path": [(1, i) for i in range(L)], "rest_parent": 1},
    ),
}
# The operators' defaults (plus what has no default) on distinct parents.
DEFAULTS = {
    "linear": {},
    "slerp": {},
    "task_arithmetic": {},
    "ties": {},
    "dare": {"seed": 7},
    "frankenmerge": {"layer_parents": [0, 1, 2, 0]},
    "dfs": {
        "path": dfs_layer_path(3, L, repeats=2),
        "indicators": [i % 3 == 0 for i in range(6 * L)],
    },
}


def test_cases_cover_the_registry():
    assert sorted(CASES) == sorted(METHODS.names()) == sorted(DEFAULTS)


def _assert_state_dicts_equal(got, want):
    assert set(got) == set(want)
    for key in want:
        assert_close(got[key], want[key], msg=lambda m, k=key: f"{k}: {m}")


@pytest.mark.parametrize("method", list(CASES))
def test_identical_parents_return_that_parent(method, base_sd, parent_sds):
    n, params, _ = CASES[method]
    same = [parent_sds[0]] * n
    _assert_state_dicts_equal(
        merge_state_dicts(method, same, base=base_sd, **params), parent_sds[0]
    )


@pytest.mark.parametrize("method", list(CASES))
def test_weights_honoured(method, base_sd, parent_sds):
    n, _, select_1 = CASES[method]
    merged = merge_state_dicts(method, parent_sds[:n], base=base_sd, **select_1)
    _assert_state_dicts_equal(merged, parent_sds[1])


@pytest.mark.parametrize("method", list(CASES))
def test_no_nan_and_dtype_kept(method, base_sd, parent_sds):
    n = CASES[method][0]
    merged = merge_state_dicts(method, parent_sds[:n], base=base_sd, **DEFAULTS[method])
    for key, t in merged.items():
        assert torch.isfinite(t).all(), key
        assert t.dtype == torch.float32, key


@pytest.mark.parametrize("method", list(CASES))
def test_shape_mismatch_raises(method, base_sd, parent_sds):
    n, params, _ = CASES[method]
    bad = dict(parent_sds[1])
    bad["model.layers.1.mlp.up_proj.weight"] = torch.zeros(3, 5)
    parents = [parent_sds[0], bad, parent_sds[2]][:n]
    with pytest.raises(ValueError, match=r"model\.layers\.1\.mlp\.up_proj\.weight.*\(3, 5\)"):
        merge_state_dicts(method, parents, base=base_sd, **params)


@pytest.mark.parametrize("method", ["task_arithmetic", "ties", "dare"])
def test_task_vector_methods_need_a_base(method, parent_sds):
    with pytest.raises(ValueError, match="needs a base"):
        merge_state_dicts(method, parent_sds)


def test_base_shape_mismatch_raises(base_sd, parent_sds):
    bad = {**base_sd, "model.norm.weight": torch.ones(7)}
    with pytest.raises(ValueError, match=r"model\.norm\.weight.*base"):
        merge_state_dicts("ties", parent_sds, base=bad)


def test_missing_key_raises(parent_sds):
    short = {k: v for k, v in parent_sds[1].items() if k != "model.norm.weight"}
    with pytest.raises(ValueError, match="different keys"):
        merge_state_dicts("linear", [parent_sds[0], short])


def test_unknown_method_suggests_close_names(parent_sds):
    with pytest.raises(NotFoundError, match="did you mean ties"):
        merge_state_dicts("tie", parent_sds)


def test_tied_head_stays_tied(base_sd, parent_sds):
    merged = merge_state_dicts("dare", parent_sds, base=base_sd, p=0.5, seed=3)
    assert merged["lm_head.weight"] is merged["model.embed_tokens.weight"]


def test_computes_in_float32_and_casts_back(parent_sds):
    halves = [{k: v.to(torch.bfloat16) for k, v in sd.items()} for sd in parent_sds]
    merged = merge_state_dicts("linear", halves)
    assert all(t.dtype == torch.bfloat16 for t in merged.values())
    want = sum(sd["model.norm.weight"].float() for sd in halves) / 3
    assert_close(merged["model.norm.weight"], want.to(torch.bfloat16))


def test_count_layers(parent_sds):
    assert count_layers(parent_sds[0]) == L
    assert count_layers({"model.norm.weight": torch.ones(2)}) == 0
