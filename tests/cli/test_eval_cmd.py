"""`agent-forge eval` through the CLI: the suite list, scores with CIs and chance on a real
checkpoint folder, Ray shards, and bad input (exit 2, the suite / file / row named)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from agent_forge.cli.main import cli
from agent_forge.eval import catalog
from agent_forge.model.tokenizer import save_tokenizer

SMALL = [
    "--set",
    "eval.examples_per_level=20",
    "--set",
    "eval.corpus_bytes=2000",
    "--set",
    "eval.levels=[1]",
    "--set",
    "eval.per_level=6",
    "--set",
    "eval.max_new_tokens=4",
    "--set",
    "eval.bootstrap_resamples=200",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, cognate, tok):
    path = tmp_path_factory.mktemp("ckpt")
    cognate.save_pretrained(path)
    save_tokenizer(tok, path)
    return path


def invoke(*args: str):
    res = CliRunner().invoke(cli, list(args))
    return res.exit_code, res.stdout, res.output


def test_list_names_every_suite(tmp_path):
    code, out, _ = invoke("eval", "--list", "--json", "--home", str(tmp_path))
    assert code == 0
    names = [r["name"] for r in json.loads(out)]
    assert names == catalog.suite_names() and {
        "tasks_test",
        "loss_test",
        "mmlu",
        "humaneval",
    } <= set(names)
    code, out, _ = invoke("eval", "--list", "--home", str(tmp_path))
    assert code == 0 and "winogrande" in out


def test_scores_a_checkpoint_folder_with_cis_and_chance(tmp_path, folder):
    home = tmp_path / "home"
    args = ["eval", str(folder), "--suite", "tasks_test", "--suite", "loss_test"]
    code, out, output = invoke(*args, "--json", "--home", str(home), *SMALL)
    assert code == 0, output
    report = json.loads(out)
    tasks, loss = report["results"]
    em = tasks["metrics"]["exact_match"]
    assert (
        tasks["suite"] == "tasks_test" and em["n"] == 6 and 0 <= em["ci95"][0] <= em["ci95"][1] <= 1
    )
    assert em["chance"] is not None and "level_1" in tasks["groups"]
    assert tasks["groups"]["level_1"]["exact_match"]["n"] == 6  # per level, per domain, both
    assert loss["metrics"]["loss"]["value"] > 0 and loss["metrics"]["loss"]["chance"] > 5.0
    assert (home / "eval_data").is_dir()  # the built-in dataset is generated once, in the home
    code, out, _ = invoke(*args, "--home", str(home), *SMALL)  # the table
    assert code == 0 and "Evaluation of" in out and "perplexity" in out and "signal" in out
    code, out, _ = invoke(*args, "--groups", "--home", str(home), *SMALL)
    assert code == 0 and "level_1" in out


@pytest.mark.ray
def test_shards_give_the_single_process_scores(tmp_path, folder, ray_session):
    home = str(tmp_path / "home")
    base = [
        "eval",
        str(folder),
        "--suite",
        "tasks_test",
        "--json",
        "--items",
        "--home",
        home,
        *SMALL,
    ]
    _, single, _ = invoke(*base)
    code, sharded, output = invoke(*base, "--shards", "2", "--set", "eval.batch_size=2")
    assert code == 0, output
    _, single_b2, _ = invoke(*base, "--set", "eval.batch_size=2")

    def strip(r):
        return [{k: v for k, v in x.items() if k != "seconds"} for x in json.loads(r)["results"]]

    assert strip(sharded) == strip(single_b2)
    assert (
        json.loads(single)["results"][0]["metrics"]
        == json.loads(single_b2)["results"][0]["metrics"]
    )


def test_bad_input_exits_2_naming_what_is_wrong(tmp_path, folder):
    home = str(tmp_path / "home")
    code, _, output = invoke("eval", str(folder), "--suite", "task_test", "--home", home)
    assert code == 2 and "task_test" in output and "tasks_test" in output  # did you mean
    code, _, output = invoke("eval", str(folder), "--suite", "gsm8k", "--home", home)
    assert code == 2 and "--benchmarks-dir" in output
    bench = tmp_path / "bench"
    (bench / "gsm8k").mkdir(parents=True)
    (bench / "gsm8k" / "test.jsonl").write_text(
        '{"question": "1+1?", "answer": "#### 2"}\n{"question": 3}\n'
    )
    code, _, output = invoke(
        "eval", str(folder), "--suite", "gsm8k", "--benchmarks-dir", str(bench), "--home", home
    )
    assert code == 2 and "test.jsonl:2" in output.replace("\n", ""), output
    code, _, output = invoke("eval", "no-such-model", "--home", home)
    assert code == 2 and "no-such-model" in output
    code, _, output = invoke("eval", "--home", home)
    assert code == 2 and "MODEL_ID" in output
    assert not (tmp_path / "home" / "eval_data").exists()  # nothing generated for bad input


def test_baseline_at_chance_gives_no_signal_and_exit_1(tmp_path, folder):
    """An untrained baseline has nothing above chance to retain: the gate cannot decide, and
    that is not a pass."""
    home = str(tmp_path / "home")
    args = ["eval", str(folder), "--baseline", str(folder), "--stage", "vptq", "--json"]
    code, out, output = invoke(*args, "--suite", "tasks_test", "--home", home, *SMALL)
    assert code == 1, output
    gate = json.loads(out)["gate"]
    assert gate["verdict"] == "no signal" and gate["stage"] == "vptq"
