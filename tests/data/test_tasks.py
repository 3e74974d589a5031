"""Every domain at every level: answers check True against themselves, False against a wrong
answer; generators are deterministic; reference code passes its own tests (in a subprocess)."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from agent_forge.data.special_tokens import TOOL_CALL_CLOSE, TOOL_CALL_OPEN
from agent_forge.data.tasks import DOMAINS, TASKS, check, generate
from agent_forge.data.tasks.base import Example, make_example, normalize_text, parse_number
from agent_forge.errors import NotFoundError

LEVELS = range(1, 11)
N = 25


def _examples(domain: str, level: int, n: int = N, seed: int = 0) -> list[Example]:
    rng = random.Random(f"{seed}:{domain}:{level}")
    return [generate(domain, rng, level) for _ in range(n)]


def _wrong(ex: Example) -> str:
    if ex.checker == "number":
        return str(parse_number(ex.answer) + 1)
    if ex.checker == "sandbox":
        return ex.answer.replace("return", "return 1 +", 1)
    return ex.answer + " x"


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("level", LEVELS)
def test_answers_check_and_wrong_answers_fail(domain, level):
    for ex in _examples(domain, level):
        assert (ex.domain, ex.level) == (domain, level)
        assert ex.prompt and ex.answer and ex.uid
        assert check(domain, ex, ex.answer), ex
        assert check(domain, ex, f"  {ex.answer}\n"), ex  # whitespace is normalised
        assert not check(domain, ex, _wrong(ex)), ex
        assert not check(domain, ex, ""), ex
        if ex.tool_call is not None:
            assert ex.tool_call.startswith(TOOL_CALL_OPEN) and ex.tool_call.endswith(
                TOOL_CALL_CLOSE
            )
            call = json.loads(ex.tool_call[len(TOOL_CALL_OPEN) : -len(TOOL_CALL_CLOSE)])
            assert call["name"] in ("calculator", "python")


@pytest.mark.parametrize("domain", DOMAINS)
def test_generators_are_deterministic(domain):
    for level in (1, 5, 10):
        assert _examples(domain, level, 5) == _examples(domain, level, 5)
        assert _examples(domain, level, 5) != _examples(domain, level, 5, seed=1)


@pytest.mark.parametrize("domain", DOMAINS)
def test_levels_grow_harder(domain):
    """Level 10 prompts are longer than level 1 prompts (more steps, terms or context)."""
    short = sum(len(e.prompt) for e in _examples(domain, 1))
    long = sum(len(e.prompt) for e in _examples(domain, 10))
    assert long > short


def test_level_one_arithmetic_is_single_digit_addition():
    for ex in _examples("arithmetic", 1, 50):
        a, b = ex.prompt.removeprefix("What is ").removesuffix("?").split(" + ")
        assert 0 <= int(a) <= 9 and 0 <= int(b) <= 9 and int(ex.answer) == int(a) + int(b)


def test_calculator_calls_evaluate_to_the_answer():
    """The calculator form is the same computation (our own expressions, evaluated by a parser)."""
    import ast
    import operator

    ops = {
        ast.Add: operator.add,
        ast.Sub: operator.sub,
        ast.Mult: operator.mul,
        ast.Div: operator.truediv,
    }

    def ev(node):  # a four-operation evaluator: no eval()
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.UnaryOp):
            return -ev(node.operand)
        return ops[type(node.op)](ev(node.left), ev(node.right))

    for domain in ("arithmetic", "word_problems"):
        for level in LEVELS:
            for ex in _examples(domain, level, 10):
                expr = json.loads(ex.tool_call[len(TOOL_CALL_OPEN) : -len(TOOL_CALL_CLOSE)])
                value = ev(ast.parse(expr["arguments"]["expression"], mode="eval").body)
                assert value == pytest.approx(int(ex.answer)), ex


def test_reference_code_passes_its_tests_in_a_subprocess():
    """Our own reference solutions (never model code) run once, out of process."""
    exs = [e for lvl in LEVELS for e in _examples("python_functions", lvl, 10)]
    script = (
        "\n".join(f"ns = {{}}\nexec({e.answer + chr(10) + e.tests!r}, ns)" for e in exs)
        + "\nprint('ok', "
        + str(len(exs))
        + ")"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"ok {len(exs)}"


def test_python_tool_calls_print_the_answer():
    """strings: the python tool-call form prints exactly the answer (run out of process)."""
    exs = [e for lvl in LEVELS for e in _examples("strings", lvl, 5)]
    codes = [
        json.loads(e.tool_call[len(TOOL_CALL_OPEN) : -len(TOOL_CALL_CLOSE)])["arguments"]["code"]
        for e in exs
    ]
    script = "\n".join(codes)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [e.answer for e in exs]


def test_sandbox_checker_never_executes_code(tmp_path):
    ex = _examples("python_functions", 1, 1)[0]
    marker = tmp_path / "ran"
    evil = f"open({str(marker)!r}, 'w').write('x')"
    assert not check("python_functions", ex, evil)
    assert not marker.exists()
    reformatted = ex.answer.replace("    return", "  return") + "\n# a comment\n"
    assert check("python_functions", ex, f"```python\n{reformatted}```")


def test_number_normalisation():
    ex = make_example(1, "arithmetic", "q", "1234", checker="number")
    for good in ("1234", "1,234", " 1234. ", "The answer is 1234", "#### 1234", "1234.0", "$1,234"):
        assert check("arithmetic", ex, good), good
    for bad in ("123", "1234 5", "twelve", "", "12a34"):
        assert not check("arithmetic", ex, bad), bad


def test_text_normalisation():
    assert normalize_text("  'a   b ,c' ") == "a b, c"
    ci = make_example(6, "logic", "q", "Ann", checker="text_ci")
    assert check("logic", ci, "ann") and not check("logic", ci, "Anna")
    cs = make_example(4, "strings", "q", "CAT", checker="text")
    assert check("strings", cs, '"CAT"') and not check("strings", cs, "cat")


def test_registry_and_level_errors():
    assert set(TASKS.names()) == set(DOMAINS) and len(DOMAINS) == 7
    with pytest.raises(NotFoundError, match="did you mean arithmetic"):
        generate("arithmetc", random.Random(0), 1)
    with pytest.raises(ValueError, match="level 11"):
        generate("arithmetic", random.Random(0), 11)
    ex = _examples("logic", 1, 1)[0]
    with pytest.raises(ValueError, match="checked as"):
        check("arithmetic", ex, ex.answer)
