"""`agent-forge merge RECIPE --out DIR` on real checkpoint folders: the identity of a one-hot
linear merge, a loadable TIES merge, a deeper DFS model, and bad input (exit 2, nothing written)."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from agent_forge.cli.main import cli
from agent_forge.model import CognateForCausalLM, cognate_tiny_config
from agent_forge.model.tokenizer import save_tokenizer


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tok):
    out = {}
    for name, seed in (("init", 0), ("a", 1), ("b", 2)):
        torch.manual_seed(seed)
        path = tmp_path_factory.mktemp(name)
        CognateForCausalLM(cognate_tiny_config(vocab_size=512, act_max_steps=2)).save_pretrained(
            path
        )
        save_tokenizer(tok, path)
        out[name] = str(path)
    return out


def merge(tmp_path, recipe: str, out_name: str = "out"):
    (tmp_path / "recipe.yaml").write_text(recipe)
    out = tmp_path / out_name
    args = [
        "merge",
        str(tmp_path / "recipe.yaml"),
        "--out",
        str(out),
        "--json",
        "--home",
        str(tmp_path / "h"),
    ]
    res = CliRunner().invoke(cli, args)
    return res.exit_code, res.output, out


def test_one_hot_linear_merge_returns_that_parent(tmp_path, folders):
    code, output, out = merge(
        tmp_path,
        f"""
merge_method: linear
models:
  - {{model: {folders["a"]}, parameters: {{weight: 0.0}}}}
  - {{model: {folders["b"]}, parameters: {{weight: 1.0}}}}
""",
    )
    assert code == 0, output
    got, want = load_file(out / "model.safetensors"), load_file(f"{folders['b']}/model.safetensors")
    assert got.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=0)
    assert (out / "tokenizer.json").is_file() and "merge_method: linear" in (
        out / "mergekit_config.yml"
    ).read_text()


def test_ties_merge_loads_and_runs(tmp_path, folders):
    code, output, out = merge(
        tmp_path,
        f"""
merge_method: ties
base_model: {folders["init"]}
models:
  - {{model: {folders["a"]}, parameters: {{weight: 1.0, density: 0.5}}}}
  - {{model: {folders["b"]}, parameters: {{weight: 1.0, density: 0.5}}}}
parameters: {{lambda: 1.0, normalize: true}}
""",
    )
    assert code == 0, output
    report = json.loads(output[output.index("{") :])
    assert report["method"] == "ties" and report["parameters"]["density"] == 0.5
    model = CognateForCausalLM.from_pretrained(out)
    assert torch.isfinite(model(input_ids=torch.tensor([[1, 2, 3]])).logits).all()


def test_dfs_builds_a_deeper_model(tmp_path, folders):
    path = [[0, 0], [0, 1], [1, 1], [0, 2], [1, 2], [0, 3]]
    code, output, out = merge(
        tmp_path,
        f"""
merge_method: dfs
models: [{{model: {folders["a"]}}}, {{model: {folders["b"]}}}]
agent_forge: {{path: {json.dumps(path)}, scales: [1, 1, 0.5, 1, 0.5, 1]}}
""",
    )
    assert code == 0, output
    model = CognateForCausalLM.from_pretrained(out)
    assert model.config.num_hidden_layers == 6
    assert torch.isfinite(model(input_ids=torch.tensor([[1, 2, 3]])).logits).all()


def test_bad_input_exits_2_and_writes_nothing(tmp_path, folders):
    code, output, out = merge(tmp_path, "merge_method: linear\nmodels: [{model: no-such-model}]\n")
    assert code == 2 and "no-such-model" in output and not out.exists()
    code, output, out = merge(tmp_path, "merge_method: breadcrumbs\nmodels: [{model: x}]\n")
    assert code == 2 and "merge_method" in output and not out.exists()
    code, output, out = merge(
        tmp_path, f"merge_method: ties\nmodels: [{{model: {folders['a']}}}]\n"
    )
    assert code == 2 and "base" in output and not out.exists()  # ties needs the shared init
    (tmp_path / "taken").mkdir()
    code, output, _ = merge(
        tmp_path, f"merge_method: linear\nmodels: [{{model: {folders['a']}}}]\n", "taken"
    )
    assert code == 2 and "already exists" in output
    res = CliRunner().invoke(
        cli, ["merge", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2 and "none.yaml" in res.output
