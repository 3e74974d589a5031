"""What both steps of Phase 3 load: the task examples and suite items of a split at some levels
(code domains excluded), and a model from a handle with a job checkpoint's weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent_forge.core.contracts import ModelHandle
from agent_forge.phases.quietstar import jobs


def examples(data_dir: Path, split: str, levels: list[int]) -> list[Any]:
    """The split's task examples at `levels`, code domains left out."""
    from agent_forge.data import load_split
    from agent_forge.eval.suites import CODE_DOMAINS

    return [
        e for e in load_split(data_dir, split) if e.level in levels and e.domain not in CODE_DOMAINS
    ]


def items(data_dir: Path, split: str, levels: list[int], per_level: int, max_new: int) -> list[Any]:
    """The items of the split's tasks suite at `levels`, `per_level` each."""
    from agent_forge.eval.catalog import SuiteOptions, build_suite

    opts = SuiteOptions(
        data_dir=data_dir, levels=tuple(levels), per_level=per_level, max_new_tokens=max_new
    )
    return list(build_suite(f"tasks_{split}", opts).items)


def model(base: ModelHandle, checkpoint: str | None, thought_mixing: bool = False) -> Any:
    """`base`'s model, with a job checkpoint's weights when given (and a mixing head)."""
    from agent_forge.model.loading import load_strict
    from agent_forge.runtime.train import load_checkpoint_state
    from agent_forge.training import model_weights

    m = jobs.start_source(base, thought_mixing).load()
    if checkpoint is not None:  # hash-checked, strictly
        load_strict(m, model_weights(load_checkpoint_state(checkpoint)))
    return m.eval()
