"""The runner on real built-in suites: controls (untrained model at chance, reference answers at
100%), CI arithmetic of summaries, per-level/domain breakdowns, and the loss suite's counts."""

from __future__ import annotations

import math

import pytest

from agent_forge.data import build_dataset, load_corpus, load_split
from agent_forge.eval.items import ChoiceItem, Suite
from agent_forge.eval.runner import (
    EvalOptions,
    ItemScore,
    evaluate_suite,
    generation_correct,
    summarise,
)
from agent_forge.eval.stats import wilson_interval
from agent_forge.eval.suites import code_suite, loss_suite, task_suite


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data")
    build_dataset(path, 1234, 60, corpus_bytes=4000)
    return path


def test_task_suite_controls(data, cognate, tok):
    examples = load_split(data, "test")
    suite = task_suite(examples, "test", levels=[1, 2], per_level=15, max_new_tokens=6)
    assert len(suite.items) == 30 and {i.group.split("/")[0] for i in suite.items} == {
        "level_1",
        "level_2",
    }
    # reference answers score 100% through the same checker
    assert all(generation_correct(i, i.target) for i in suite.items)
    result = evaluate_suite(cognate, tok, suite, EvalOptions(batch_size=16))
    em = result.metrics["exact_match"]
    assert em.n == 30 and em.chance == pytest.approx(suite.chance)
    assert em.ci95[0] <= max(em.chance, 0.05)  # an untrained model is not above chance
    assert {"level_1/arithmetic", "level_2/logic"} <= set(result.groups)
    assert all(len(r.output or "") <= 200 for r in result.items)


def test_code_suite_reference_passes_and_empty_fails(data):
    from agent_forge.eval.code_exec import score_code

    examples = load_split(data, "test")
    suite = code_suite(examples, "test", levels=[1, 2, 3], per_level=4)
    assert suite.items and suite.kind == "code"
    by_id = {e.uid: e for e in examples}
    reference = [by_id[i.id].answer for i in suite.items]
    assert all(r.passed for r in score_code(suite.items, reference))
    assert not any(r.passed for r in score_code(suite.items, ["pass\n"] * len(suite.items)))


def test_loss_suite_beats_nothing_when_untrained(data, cognate, tok):
    suite = loss_suite(load_corpus(data, "test"), load_split(data, "test")[:20], "test")
    result = evaluate_suite(cognate, tok, suite)
    loss = result.metrics["loss"]
    assert loss.chance == pytest.approx(math.log(512))
    assert abs(loss.value - math.log(512)) < 0.1 * math.log(512)  # control: random init ~ uniform
    assert loss.ci95[0] <= loss.value <= loss.ci95[1]
    assert result.metrics["perplexity"].value == pytest.approx(math.exp(loss.value))


def test_summary_of_known_item_scores():
    suite = Suite("s", "generation", [], chance=0.25, metrics=("exact_match",))
    items = [
        ItemScore(str(i), "level_1/a" if i < 6 else "level_2/b", {"exact_match": float(i % 2)})
        for i in range(10)
    ]
    result = summarise(suite, items, EvalOptions(), vocab_size=10)
    em = result.metrics["exact_match"]
    assert em.value == 0.5 and em.n == 10
    assert em.ci95 == pytest.approx(wilson_interval(5, 10))
    assert result.groups["level_1/a"]["exact_match"].value == pytest.approx(3 / 6)
    assert result.groups["level_2/b"]["exact_match"].n == 4


def test_choice_suite_summary_with_mc2(cognate, tok):
    items = [
        ChoiceItem.shared(
            f"q{i}",
            f"Question: {i} + 1\nAnswer:",
            [f" {i + 1}", f" {i + 2}", " x"],
            0,
            (True, False, True),
        )
        for i in range(6)
    ]
    suite = Suite("mc", "choice", items, chance=1 / 3, metrics=("acc", "acc_norm", "mc2"))
    result = evaluate_suite(cognate, tok, suite)
    assert set(result.metrics) == {"acc", "acc_norm", "mc2"}
    mc2 = result.metrics["mc2"]
    assert 0.0 <= mc2.ci95[0] <= mc2.value <= mc2.ci95[1] <= 1.0
