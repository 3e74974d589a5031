"""Every suite `agent-forge eval` knows, by name: the built-in ones (generated locally from a
dataset folder) and the 7 public benchmarks (read from a benchmarks folder)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from agent_forge.data import load_corpus, load_split
from agent_forge.errors import NotFoundError, UserInputError
from agent_forge.eval import public
from agent_forge.eval.items import Suite
from agent_forge.eval.suites import code_suite, loss_suite, task_suite

SPLITS = ("selection", "test")
BUILTIN = {
    **{
        f"tasks_{s}": f"built-in tasks ({s} split): greedy exact match per level and domain"
        for s in SPLITS
    },
    **{
        f"code_{s}": f"built-in python functions ({s} split): pass@1 in the sandbox" for s in SPLITS
    },
    **{
        f"loss_{s}": f"held-out loss and perplexity ({s} split corpus and examples)" for s in SPLITS
    },
}


@dataclass
class SuiteOptions:
    """What the suites are built from (the `eval:` config section, resolved by the caller)."""

    data_dir: Path | None = None  # a dataset built by data.build_dataset
    benchmarks_dir: Path | None = None
    levels: tuple[int, ...] = (1, 2, 3)
    per_level: int = 40
    max_new_tokens: int = 16
    limit: int | None = None
    seed: int = 1234


def builtin_data_dir(
    home_root: Path, seed: int, examples_per_level: int, corpus_bytes: int
) -> Path:
    """The built-in dataset for these settings, generated once under `<home>/eval_data/`.
    Splits are by prompt hash, so its selection and test items are never in Phase 1's training."""
    from agent_forge.data import build_dataset

    path = Path(home_root) / "eval_data" / f"seed{seed}-n{examples_per_level}-b{corpus_bytes}"
    if not (path / "manifest.json").is_file():
        build_dataset(path, seed, examples_per_level, corpus_bytes=corpus_bytes)
    return path


def suite_names() -> list[str]:
    return [*BUILTIN, *public.BENCHMARKS.names()]


def describe() -> list[dict[str, object]]:
    """One row per suite: name, source, description, shots."""
    rows: list[dict[str, object]] = [
        {"name": n, "source": "built-in", "description": d, "shots": 0} for n, d in BUILTIN.items()
    ]
    for name in public.BENCHMARKS.names():
        b = public.BENCHMARKS.get(name)
        rows.append(
            {
                "name": name,
                "source": "benchmarks dir",
                "description": b.description,
                "shots": b.num_fewshot,
            }
        )
    return rows


def build_suite(name: str, opts: SuiteOptions) -> Suite:
    """The suite `name`; UserInputError (exit 2) for an unknown name or missing data folder."""
    if name in BUILTIN:
        if opts.data_dir is None:
            raise UserInputError(f"suite {name!r} needs the built-in dataset folder")
        kind, split = name.split("_", 1)
        examples = load_split(opts.data_dir, split)
        if kind == "tasks":
            return task_suite(examples, split, opts.levels, opts.per_level, opts.max_new_tokens)
        if kind == "code":
            return code_suite(examples, split, opts.levels, opts.per_level)
        return loss_suite(load_corpus(opts.data_dir, split), examples, split)
    if name not in public.BENCHMARKS:
        close = difflib.get_close_matches(name, suite_names(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise NotFoundError(f"unknown suite {name!r}{hint} (see `agent-forge eval --list`)")
    if opts.benchmarks_dir is None:
        raise UserInputError(
            f"suite {name!r} reads local benchmark files: pass --benchmarks-dir DIR "
            "or set eval.benchmarks_dir (layout: docs/eval/benchmarks.md)"
        )
    return public.load_benchmark(name, Path(opts.benchmarks_dir), limit=opts.limit, seed=opts.seed)
