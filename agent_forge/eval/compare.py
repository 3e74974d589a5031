"""Retention of a candidate's suite results against a baseline's: the per-item scores of the same
items, paired by id, turned into `Retention`s that a `QualityGate` can judge."""

from __future__ import annotations

from agent_forge.eval.retention import Retention, loss_retention, retention
from agent_forge.eval.runner import SuiteResult


def _paired(cand: SuiteResult, base: SuiteResult) -> list[tuple[dict, dict]]:
    """(candidate scores, baseline scores) per item; the two must cover the same items."""
    if cand.suite != base.suite:
        raise ValueError(f"suites differ: {cand.suite!r} vs {base.suite!r}")
    base_by_id = {i.id: i.scores for i in base.items}
    ids = [i.id for i in cand.items]
    if set(ids) != set(base_by_id) or len(ids) != len(base_by_id):
        raise ValueError(f"suite {cand.suite!r}: candidate and baseline scored different items")
    return [(i.scores, base_by_id[i.id]) for i in cand.items]


def suite_retention(
    cand: SuiteResult, base: SuiteResult, n_resamples: int = 2000, seed: int = 0
) -> list[Retention]:
    """One Retention per metric: chance-adjusted for scores, relative increase for loss."""
    pairs = _paired(cand, base)
    if cand.kind == "loss":
        return [
            loss_retention(
                [c["nll"] for c, _ in pairs],
                [b["nll"] for _, b in pairs],
                tokens=[b["tokens"] for _, b in pairs],
                chance=base.metrics["loss"].chance,
                metric=f"{cand.suite}/loss",
                n_resamples=n_resamples,
                seed=seed,
            )
        ]
    out = []
    for name, m in base.metrics.items():
        out.append(
            retention(
                [c[name] for c, _ in pairs],
                [b[name] for _, b in pairs],
                chance=m.chance if m.chance is not None else 0.0,
                metric=f"{cand.suite}/{name}",
                n_resamples=n_resamples,
                seed=seed,
            )
        )
    return out
