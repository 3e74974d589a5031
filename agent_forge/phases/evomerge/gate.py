"""Phase 2's gate (`eval.checks`, written to gate.json): the champion's selection fitness and
test accuracy against the best parent's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent_forge.config.evomerge_config import EvoMergeConfig


def gate_champion(
    c: EvoMergeConfig,
    phase: str,
    run_dir: Path,
    fit: float,
    parent_fit: float,
    champ: dict,
    parent: dict,
) -> Any:
    """The champion's gate (`eval.checks`, written to gate.json): selection fitness and test
    accuracy against the best parent's; with on_gate_fail best_parent, a ladder whose
    unconditional second option is the best parent, handed on unmerged (a fallback)."""
    from agent_forge.core.storage import atomic_write_json
    from agent_forge.eval.checks import Option, check, ladder, limit

    k_fit, k_acc = c.min_fitness_vs_best_parent, c.min_test_accuracy_retention
    parent_acc = parent.get("accuracy", 0.0)
    lo, hi = champ.get("accuracy_lo"), champ.get("accuracy_hi")
    ci = (lo, hi) if lo is not None and hi is not None else None
    fit_note = f"{k_fit} x best parent's {parent_fit:.4f}"
    acc_note = f"{k_acc} x best parent's {parent_acc:.3f}"
    checks = [
        check(
            "champion_fitness",
            fit,
            limit(min=k_fit * parent_fit),
            note=fit_note,
            label="champion fitness",
            fmt=".4f",
        ),
        check(
            "champion_test_accuracy",
            champ.get("accuracy"),
            limit(min=k_acc * parent_acc),
            ci=ci,
            n=champ.get("accuracy_n"),
            label="champion test accuracy",
            fmt=".3f",
            note=acc_note,
        ),
    ]
    options = [Option("champion", checks)]
    if c.on_gate_fail == "best_parent":
        options.append(Option("best_parent"))  # unconditional: the best model this phase saw
    verdict = ladder(phase, options)
    atomic_write_json(run_dir / "gate.json", verdict.to_json())
    return verdict
