"""build_dataset: byte-identical for a seed, disjoint splits, honest manifest, verified loads."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from agent_forge.data.dataset import build_dataset, load_corpus, load_manifest, load_split
from agent_forge.data.splits import SPLITS, split_of
from agent_forge.data.tasks import DOMAINS, check, normalize_text
from agent_forge.errors import DataFileError, IntegrityError

COUNT = 30


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    return out, build_dataset(out, seed=7, counts_per_level_per_domain=COUNT, corpus_bytes=40_000)


def test_same_seed_gives_byte_identical_files(built, tmp_path):
    out, manifest = built
    again = build_dataset(tmp_path, seed=7, counts_per_level_per_domain=COUNT, corpus_bytes=40_000)
    assert again == manifest
    for name in [*manifest["files"], "manifest.json"]:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name
    other = build_dataset(tmp_path / "b", seed=8, counts_per_level_per_domain=COUNT)
    assert other["files"]["train.parquet"]["sha256"] != manifest["files"]["train.parquet"]["sha256"]


def test_no_prompt_is_in_two_splits(built):
    out, _ = built
    prompts = {s: [normalize_text(e.prompt) for e in load_split(out, s)] for s in SPLITS}
    for s in SPLITS:
        assert len(prompts[s]) == len(set(prompts[s])), f"duplicates within {s}"
        assert all(split_of(p) == s for p in prompts[s])
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            assert not set(prompts[a]) & set(prompts[b]), (a, b)
    corpus = {s: set(load_corpus(out, s)) for s in SPLITS}
    assert not corpus["train"] & (corpus["selection"] | corpus["test"])


def test_corpus_never_contains_held_out_prompts(built):
    out, _ = built
    text = "\n".join(t for s in SPLITS for t in load_corpus(out, s))
    held_out = [e.prompt for s in ("selection", "test") for e in load_split(out, s)]
    long_prompts = [
        p for p in held_out if len(p) > 40
    ]  # short ones ('What is 3 + 4?') recur in prose
    assert long_prompts and not [p for p in long_prompts if f"Question: {p}\n" in text]


def test_manifest_counts_match_files(built):
    out, manifest = built
    assert manifest["seed"] == 7 and manifest["generator_version"]
    assert json.loads((out / "manifest.json").read_text()) == manifest == load_manifest(out)
    for s in SPLITS:
        table = pq.read_table(out / f"{s}.parquet")
        assert table.num_rows == manifest["totals"][s] == manifest["files"][f"{s}.parquet"]["rows"]
        assert sum(n for d in manifest["counts"][s].values() for n in d.values()) == table.num_rows
    per_cell = [
        sum(manifest["counts"][s].get(d, {}).get(str(lvl), 0) for s in SPLITS)
        for d in DOMAINS
        for lvl in range(1, 11)
    ]
    assert max(per_cell) == COUNT and min(per_cell) > 0
    assert manifest["totals"]["train"] > 5 * manifest["totals"]["test"] > 0


def test_loaded_examples_check_against_their_answers(built):
    out, _ = built
    examples = load_split(out, "test")
    assert {e.domain for e in examples} == set(DOMAINS)
    assert all(check(e.domain, e, e.answer) for e in examples)


def test_tampered_file_is_an_integrity_error(built, tmp_path):
    out, manifest = built
    for name in [*manifest["files"], "manifest.json"]:
        (tmp_path / name).write_bytes((out / name).read_bytes())
    (tmp_path / "test.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(IntegrityError, match="test.parquet"):
        load_split(tmp_path, "test")
    with pytest.raises(DataFileError, match="manifest"):
        load_split(tmp_path / "missing", "train")


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="sum to 1"):
        build_dataset(tmp_path, 0, 1, splits=(0.5, 0.2, 0.2))
    with pytest.raises(Exception, match="did you mean"):
        build_dataset(tmp_path, 0, 1, domains=["recal"])
