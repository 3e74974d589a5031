"""Phase 3's gates as `eval.checks` (SPEC_NOTES Phase 3): the bake gate of step 1, and the thought
gate (anti-theater accuracy gain and reward-correctness correlation, thought validity, time per
thought) whose ladder falls back to the step-2 start model when on_gate_fail is "restore"."""

from __future__ import annotations

from typing import Any

from agent_forge.config.quietstar_config import BakeConfig, QuietStarConfig
from agent_forge.eval.checks import (
    Check,
    GateResult,
    LadderResult,
    Option,
    check,
    gate,
    ladder,
    limit,
)

ANTI_THEATER = ("accuracy_gain", "reward_correctness_correlation")  # the checks of that test


def bake_gate(b: BakeConfig, baked: float, given: float, n: int) -> GateResult:
    """Baked accuracy (thinking, then answering) at least min_accuracy and at least
    min_accuracy_vs_input x the input's (answering directly); each check may be off (None)."""
    checks = []
    if b.min_accuracy is not None:
        floor = limit(min=b.min_accuracy)
        checks.append(check("baked_accuracy", baked, floor, n=n, label="baked accuracy", fmt=".3f"))
    if b.min_accuracy_vs_input is not None:
        vs = limit(min=b.min_accuracy_vs_input * given)
        note = f"{b.min_accuracy_vs_input} x the input's {given:.3f}"
        checks.append(
            check("baked_vs_input", baked, vs, n=n, label="baked accuracy", note=note, fmt=".3f")
        )
    return gate("bake", checks, allow_empty=True)


def _thought_checks(c: QuietStarConfig, anti: dict[str, Any], validity: float) -> list[Check]:
    out = []
    if c.min_accuracy_gain is not None:  # the point decides; the paired bootstrap CI is shown
        gain, lo, hi = anti["accuracy_gain"]
        rule = limit(min=c.min_accuracy_gain, inclusive=False)
        label = "accuracy with thoughts - without"
        n = anti["items"]
        out.append(check("accuracy_gain", gain, rule, ci=(lo, hi), n=n, label=label, fmt="+.3f"))
    if c.min_reward_correlation is not None:
        corr = anti["reward_correctness_correlation"]
        rule = limit(min=c.min_reward_correlation, inclusive=False)
        label = "corr(thought reward, correct)"
        out.append(check("reward_correctness_correlation", corr, rule, label=label, fmt=".3f"))
    if c.min_validity is not None:
        rule = limit(min=c.min_validity, inclusive=False)
        out.append(check("validity_rate", validity, rule, label="validity", fmt=".3f"))
    if c.max_ms_per_thought is not None:
        rule = limit(max=c.max_ms_per_thought, inclusive=False)
        ms = anti["ms_per_thought"]
        out.append(check("ms_per_thought", ms, rule, label="ms per thought", fmt=".2f"))
    return out


def thought_gate(c: QuietStarConfig, anti: dict[str, Any], validity: float) -> LadderResult:
    """Option "thinker" (the model with thoughts) when every configured check passes; else, with
    on_gate_fail "restore", "restored" (the step-2 start model without thoughts: a fallback)."""
    options = [Option("thinker", _thought_checks(c, anti, validity), allow_empty=True)]
    if c.on_gate_fail == "restore":
        options.append(Option("restored"))  # unconditional
    return ladder("quietstar", options)


def anti_theater_passed(verdict: LadderResult) -> bool:
    """Whether the anti-theater checks (not validity or speed) passed: phase/anti_theater_passed."""
    return not any(r.failed for r in verdict.primary.checks if r.name in ANTI_THEATER)
