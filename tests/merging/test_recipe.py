"""Recipes are mergekit configs: YAML round trip, mergekit's own validation of every recipe whose
method mergekit has, and the mapping to our operators' keyword arguments."""

from __future__ import annotations

import pytest
import yaml

from agent_forge.errors import ConfigError
from agent_forge.merging.recipe import Recipe, load_recipe, parse_recipe

P = ["m1", "m2", "m3"]
RECIPES = {
    "linear": Recipe("linear", P, None, [{"weight": 0.5}, {"weight": 0.3}, {"weight": 0.2}]),
    "slerp": Recipe("slerp", P[:2], None, [], {"t": 0.3}),
    "task_arithmetic": Recipe(
        "task_arithmetic", P, "init", [{"weight": 0.4}] * 3, {"lambda": 1.0, "normalize": False}
    ),
    "ties": Recipe(
        "ties", P, "init", [{"weight": 1.0, "density": 0.3}] * 3, {"lambda": 1.0, "normalize": True}
    ),
    "dare_linear": Recipe(
        "dare_linear", P, "init", [{"weight": 0.5, "density": 0.2}] * 3, {}, extensions={"seed": 7}
    ),
    "passthrough": Recipe("passthrough", P, layer_parents=[0, 2, 1, 0]),
}


@pytest.mark.parametrize("name", list(RECIPES))
def test_yaml_round_trip(name):
    recipe = RECIPES[name]
    again = load_recipe(recipe.to_yaml())
    if name == "passthrough":  # same model per layer (models are listed in order of use)
        assert [again.models[p] for p in again.layer_parents] == [
            P[p] for p in recipe.layer_parents
        ]
    else:
        assert again.merge_kwargs() == recipe.merge_kwargs()
    assert load_recipe(again.to_yaml()).to_dict() == again.to_dict()


@pytest.mark.parametrize("name", list(RECIPES))
def test_recipes_are_valid_mergekit_configs(name):
    """mergekit's MergeConfiguration accepts the YAML, the method exists there, and every
    parameter is one that mergekit's method declares."""
    mergekit_config = pytest.importorskip("mergekit.config")
    from mergekit.merge_methods import get

    data = yaml.safe_load(RECIPES[name].to_yaml())
    cfg = mergekit_config.MergeConfiguration.model_validate(data)
    method = get(cfg.merge_method)
    spec = method.spec() if callable(method.spec) else method.spec
    declared = {p.name for p in spec.parameters}
    used = set(cfg.parameters or {})
    for m in cfg.models or []:
        used |= set(m.parameters or {})
    assert used <= declared, (used - declared, declared)
    if spec.contract.base.value == "required":
        assert cfg.base_model is not None


def test_kwargs_map_to_our_operators():
    assert RECIPES["ties"].merge_kwargs() == (
        "ties",
        {"weights": [1.0, 1.0, 1.0], "density": 0.3, "lam": 1.0},
    )
    assert RECIPES["dare_linear"].merge_kwargs() == (
        "dare",
        {"weights": [0.5, 0.5, 0.5], "p": pytest.approx(0.8), "seed": 7},
    )
    assert RECIPES["passthrough"].merge_kwargs() == (
        "frankenmerge",
        {"layer_parents": [0, 2, 1, 0]},
    )
    assert RECIPES["slerp"].merge_kwargs() == ("slerp", {"t": 0.3})


def test_a_mergekit_slerp_config_puts_its_base_model_first():
    text = """
merge_method: slerp
base_model: b
models: [{model: a}, {model: b}]
parameters: {t: 0.25}
dtype: bfloat16
"""
    recipe = load_recipe(text)
    assert recipe.models == ["b", "a"] and recipe.merge_kwargs() == ("slerp", {"t": 0.25})


def test_dfs_recipe_keeps_its_path_in_the_extension_block():
    recipe = Recipe(
        "dfs", P[:2], extensions={"path": [[0, 0], [1, 0], [0, 1]], "scales": [1, 0.5, 1]}
    )
    method, kw = load_recipe(recipe.to_yaml()).merge_kwargs()
    assert method == "dfs" and kw == {"path": [[0, 0], [1, 0], [0, 1]], "scales": [1, 0.5, 1]}


@pytest.mark.parametrize(
    "data, key",
    [
        ({"merge_method": "breadcrumbs", "models": [{"model": "a"}]}, "merge_method"),
        ({"merge_method": "linear", "models": []}, "models"),
        (
            {"merge_method": "linear", "models": [{"model": "a"}], "tokenizer_source": "union"},
            "tokenizer_source",
        ),
        ({"merge_method": "slerp", "models": [{"model": "a"}, {"model": "b"}]}, "parameters.t"),
        (
            {
                "merge_method": "ties",
                "base_model": "i",
                "models": [
                    {"model": "a", "parameters": {"density": 0.2}},
                    {"model": "b", "parameters": {"density": 0.5}},
                ],
            },
            "density",
        ),
        (
            {
                "merge_method": "passthrough",
                "slices": [{"sources": [{"model": "a", "layer_range": [0, 4]}]}],
            },
            "layer_range",
        ),
    ],
)
def test_bad_recipes_name_the_key(data, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.").replace("[", r"\[")):
        parse_recipe(data).merge_kwargs()
