"""The 7 public benchmarks, read from local copies of their public releases (nothing is
downloaded): one subfolder each under a benchmarks dir, layout in docs/eval/benchmarks.md.
TruthfulQA is two suites, as in lm-evaluation-harness: `truthfulqa_mc1` and `truthfulqa_mc2`."""

from __future__ import annotations

from pathlib import Path

from agent_forge.core.named_registry import Registry
from agent_forge.errors import DataFileError
from agent_forge.eval.items import Suite
from agent_forge.eval.public import arc, gsm8k, hellaswag, humaneval, mmlu, truthfulqa, winogrande
from agent_forge.eval.public.base import Benchmark, check_unique_ids

__all__ = ["BENCHMARKS", "Benchmark", "load_benchmark"]

BENCHMARKS: Registry[Benchmark] = Registry(
    "benchmark",
    {
        b.name: b
        for b in (
            mmlu.BENCHMARK,
            gsm8k.BENCHMARK,
            humaneval.BENCHMARK,
            hellaswag.BENCHMARK,
            arc.BENCHMARK,
            truthfulqa.MC1,
            truthfulqa.MC2,
            winogrande.BENCHMARK,
        )
    },
)


def load_benchmark(
    name: str,
    root: Path,
    num_fewshot: int | None = None,
    limit: int | None = None,
    seed: int = 1234,
) -> Suite:
    """Suite `name` from `root/<its folder>` (`root` is the benchmarks dir). `num_fewshot`
    None = the spec's count; `limit` keeps the first N items (MMLU: N spread over subjects);
    `seed` fixes the shot draws. NotFoundError for an unknown name, DataFileError for a missing
    or malformed file or a repeated item id."""
    bench = BENCHMARKS.get(name)
    root = Path(root)
    if not root.is_dir():
        raise DataFileError(
            str(root),
            "benchmarks dir not found: it holds one subfolder per benchmark "
            f"(for {name}: {' or '.join(bench.layout)}; see docs/eval/benchmarks.md)",
        )
    suite = bench.load(root / bench.folder, num_fewshot=num_fewshot, limit=limit, seed=seed)
    return check_unique_ids(suite)
