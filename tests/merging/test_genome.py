"""EvoMerge genomes: generation 0's 8 combinations, recipes that rebuild the candidate exactly,
identities that pin each stage's meaning, and weight noise that is seeded and keeps ties."""

from __future__ import annotations

import pytest
import torch

from agent_forge.merging import count_layers, merge_state_dicts
from agent_forge.merging.genome import (
    BASE_REF,
    PARENT_REFS,
    Genome,
    Noise,
    build_candidate,
    default_genome,
    genome_recipes,
)
from agent_forge.merging.multistage import add_noise, apply_recipes
from agent_forge.merging.recipe import load_recipes, to_yaml_documents
from tests.merging.conftest import NUM_LAYERS


def _models(parent_sds, base_sd):
    return dict(zip(PARENT_REFS, parent_sds, strict=True)) | {BASE_REF: base_sd}


def _equal(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_generation_zero_is_the_eight_technique_combinations():
    combos = {default_genome(code, NUM_LAYERS).techniques for code in range(8)}
    assert len(combos) == 8
    assert default_genome(0, NUM_LAYERS).techniques == ("linear", "dare", "frankenmerge")
    assert default_genome(7, NUM_LAYERS).techniques == ("slerp", "ties", "dfs")
    ties = default_genome(2, NUM_LAYERS, ties_density=0.2)
    dare = default_genome(0, NUM_LAYERS, dare_drop=0.9)
    assert ties.part("density") == [0.2] and dare.part("density") == [pytest.approx(0.1)]


@pytest.mark.parametrize("code", range(8))
def test_yaml_recipes_rebuild_the_candidate_bit_for_bit(code, parent_sds, base_sd):
    g = default_genome(code, NUM_LAYERS, seed=5)
    g.noise = [Noise(11, 0.01, 0.01)]
    sd, depth = build_candidate(g, parent_sds, base_sd)
    again = apply_recipes(
        load_recipes(to_yaml_documents(genome_recipes(g))), _models(parent_sds, base_sd)
    )
    assert _equal(sd, again)
    assert depth == (2 * NUM_LAYERS if g.techniques[2] == "dfs" else NUM_LAYERS)
    assert count_layers(sd) == depth


def _genome(interp, task, struct, w=(1, 0, 0), layers=None, lam=0.5, density=0.2):
    """A hand-set genome: bits, interpolation shares w, equal task shares, λ gene, density."""
    bits = [float(interp == "slerp"), float(task == "ties"), float(struct == "dfs")]
    layers = layers if layers is not None else [0.0] * (2 * NUM_LAYERS)
    genes = [*bits, *map(float, w), 1, 1, 1, density, lam, *layers, *[0.5] * (2 * NUM_LAYERS)]
    return Genome(genes)


@pytest.mark.parametrize("interp", ["linear", "slerp"])
def test_one_hot_interpolation_with_all_blocks_from_it_is_that_parent(interp, parent_sds, base_sd):
    for i in range(3):
        w = [0, 0, 0]
        w[i] = 1
        sd, _ = build_candidate(_genome(interp, "ties", "frankenmerge", w), parent_sds, base_sd)
        ref = parent_sds[i]
        assert all(torch.allclose(sd[k], ref[k], atol=1e-6) for k in ref), (interp, i)


def test_all_blocks_from_the_task_stage_is_the_task_vector_merge(parent_sds, base_sd):
    g = _genome("linear", "ties", "frankenmerge", layers=[1.0] * (2 * NUM_LAYERS))
    sd, _ = build_candidate(g, parent_sds, base_sd)
    ties = merge_state_dicts(
        "ties", parent_sds, base=base_sd, weights=[1 / 3] * 3, density=0.2, lam=1.0
    )
    assert _equal(sd, ties)


def test_dfs_with_only_the_first_half_on_and_unit_scales_is_the_interpolation(parent_sds, base_sd):
    layers = [1.0] * NUM_LAYERS + [0.0] * NUM_LAYERS
    g = _genome("linear", "dare", "dfs", w=(1, 1, 1), layers=layers)
    sd, depth = build_candidate(g, parent_sds, base_sd)
    lin = merge_state_dicts("linear", parent_sds, weights=[1 / 3] * 3)
    assert depth == NUM_LAYERS and _equal(sd, lin)


def test_the_tied_head_stays_tied_through_structural_stages(parent_sds, base_sd):
    for code in range(8):
        sd, _ = build_candidate(default_genome(code, NUM_LAYERS), parent_sds, base_sd)
        assert sd["lm_head.weight"] is sd["model.embed_tokens.weight"], code


def test_genome_json_and_key_round_trip():
    g = default_genome(5, NUM_LAYERS, seed=3)
    g.noise = [Noise(1, 0.01, 0.01)]
    again = Genome.from_json(g.to_json())
    assert again.to_json() == g.to_json() and again.key() == g.key()
    assert default_genome(5, NUM_LAYERS, seed=4).key() != g.key()


def test_weight_noise_is_seeded_touches_the_fraction_and_keeps_ties(parent_sds):
    sd = dict(parent_sds[0])
    sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    a, b = add_noise(sd, 7, 0.01, 0.05), add_noise(sd, 7, 0.01, 0.05)
    assert _equal(a, b)
    assert not _equal(a, add_noise(sd, 8, 0.01, 0.05))
    w = "model.layers.0.mlp.up_proj.weight"
    changed = (a[w] != sd[w]).float().mean().item()
    assert 0.03 < changed < 0.07
    assert (a[w] - sd[w]).abs().max().item() < 0.1  # sigma 0.01: no entry moves 10 sigma
    assert a["lm_head.weight"] is a["model.embed_tokens.weight"]


def test_wrong_depth_or_parent_count_is_refused(parent_sds, base_sd):
    with pytest.raises(ValueError, match="exactly 3"):
        build_candidate(default_genome(0, NUM_LAYERS), parent_sds[:2], base_sd)
    with pytest.raises(ValueError, match="layers"):
        build_candidate(default_genome(0, NUM_LAYERS + 1), parent_sds, base_sd)


@pytest.mark.parametrize("code", [0, 5])  # DARE with frankenmerge, DARE with dfs
def test_the_candidate_does_not_depend_on_the_order_of_state_dict_keys(code, parent_sds, base_sd):
    """Checkpoints list keys alphabetically, modules in registration order: a recipe must give
    the same model from either (DARE's masks and weight noise are seeded per tensor name)."""
    g = default_genome(code, NUM_LAYERS, seed=9)
    g.noise = [Noise(4, 0.01, 0.05)]
    flipped = [dict(reversed(list(sd.items()))) for sd in parent_sds]
    a, _ = build_candidate(g, parent_sds, base_sd)
    b, _ = build_candidate(g, flipped, dict(reversed(list(base_sd.items()))))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
