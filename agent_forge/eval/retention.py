"""Retention of a candidate (compressed) model against its baseline, with paired bootstrap CIs.

Scores are chance-adjusted, (cand - chance) / (base - chance), because a plain ratio of raw scores
counts chance as retained skill; a baseline not clearly above chance carries no signal and gates
nothing (SPEC_NOTES correction 8). Held-out loss is compared as a relative increase instead.
See docs/eval/retention-and-gates.md for formulas and worked numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from agent_forge.errors import UserInputError
from agent_forge.eval.bootstrap import (
    as_item_arrays,
    bootstrap_distribution,
    bootstrap_mean_ci,
    bootstrap_ratio_ci,
    percentile_ci,
)

RetentionKind = Literal["chance_adjusted", "loss_increase"]
ALPHA = 0.05  # every CI here is a 95% interval: the field is called `ci95`


@dataclass(frozen=True)
class Retention:
    """One metric's retention. `value` is None (and `ci95` None) when the baseline has no signal.

    kind "chance_adjusted": value = (candidate - chance) / (baseline - chance); higher is better,
    1.0 means everything above chance was kept. kind "loss_increase": value = candidate/baseline
    - 1 on mean held-out loss; lower is better, 0.0 means no loss increase.
    `baseline_ci95` is the baseline's own 95% CI, the one the signal test uses.
    """

    metric: str
    kind: RetentionKind
    value: float | None
    ci95: tuple[float, float] | None
    baseline: float
    candidate: float
    chance: float | None
    n: int
    no_signal: bool
    baseline_ci95: tuple[float, float]
    reason: str | None = None

    @property
    def higher_is_better(self) -> bool:
        return self.kind == "chance_adjusted"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (tuples become lists, non-finite floats become None)."""
        return {k: json_safe(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Retention:
        ci, bci = d.get("ci95"), d["baseline_ci95"]
        return cls(
            **{k: v for k, v in d.items() if k not in ("ci95", "baseline_ci95")},
            ci95=None if ci is None else (ci[0], ci[1]),
            baseline_ci95=(bci[0], bci[1]),
        )


def json_safe(v: Any) -> Any:
    """`v` with tuples as lists and non-finite floats as None (strict JSON has no inf/NaN)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (tuple, list)):
        return [json_safe(x) for x in v]
    return v


def retention(
    cand_scores: Sequence[float],
    base_scores: Sequence[float],
    chance: float,
    *,
    metric: str = "score",
    n_resamples: int = 2000,
    seed: int = 0,
) -> Retention:
    """Chance-adjusted retention of per-item scores (0/1 accuracy or [0, 1] scores, higher is
    better), both models scored on the same items in the same order.

    Signal: the lower end of the baseline mean's bootstrap 95% CI must exceed `chance`; it uses
    the very resamples the retention CI uses (same seed), so with signal fewer than
    ceil(B * 0.025) resamples have a baseline at or below chance. In those resamples the ratio is
    undefined and is set to -inf (the worst case): it can only lower the CI's lower bound, which
    stays finite, and never yields NaN. Without signal the value and CI are None.
    """
    if not math.isfinite(chance):
        raise UserInputError(f"chance must be a finite number, got {chance}")
    cand, _ = as_item_arrays([cand_scores, base_scores])
    base_mean, b_lo, b_hi = bootstrap_mean_ci(base_scores, n_resamples, seed, ALPHA)
    cand_mean, n = float(cand.mean()), cand.size
    common = dict(metric=metric, baseline=base_mean, candidate=cand_mean, chance=chance, n=n)
    if not b_lo > chance:
        why = f"baseline {base_mean:.4g} (95% CI {b_lo:.4g}..{b_hi:.4g}, n={n}) is not above chance"
        return Retention(
            kind="chance_adjusted",
            value=None,
            ci95=None,
            no_signal=True,
            baseline_ci95=(b_lo, b_hi),
            reason=why,
            **common,
        )

    def stat(c: np.ndarray, b: np.ndarray) -> np.ndarray:
        above = b.mean(axis=-1) - chance  # (R,)
        ratio = (c.mean(axis=-1) - chance) / np.where(above > 0, above, 1.0)
        return np.where(above > 0, ratio, -np.inf)

    point, dist = bootstrap_distribution([cand_scores, base_scores], stat, n_resamples, seed)
    return Retention(
        kind="chance_adjusted",
        value=point,
        ci95=percentile_ci(dist, ALPHA),
        no_signal=False,
        baseline_ci95=(b_lo, b_hi),
        **common,
    )


def _mean_loss_ci(
    losses: Sequence[float], tokens: Sequence[float] | None, n_resamples: int, seed: int
) -> tuple[float, float, float]:
    if tokens is None:
        return bootstrap_mean_ci(losses, n_resamples, seed, ALPHA)
    return bootstrap_ratio_ci(losses, tokens, n_resamples, seed, ALPHA)


def loss_retention(
    cand_losses: Sequence[float],
    base_losses: Sequence[float],
    *,
    tokens: Sequence[float] | None = None,
    chance: float | None = None,
    metric: str = "loss",
    n_resamples: int = 2000,
    seed: int = 0,
) -> Retention:
    """Relative increase of mean held-out loss, candidate over baseline (lower is better).

    Without `tokens` the losses are per-item means (per token or per document); with `tokens`
    they are per-document summed NLL (as `LossResult.nll`) and means are token-weighted. Either
    way the same items are scored, so the increase is sum(cand) / sum(base) - 1 (token counts
    cancel), with a paired bootstrap CI over items. Resample per document where you can: tokens
    of one document are correlated, and a per-token bootstrap makes the CI too narrow.

    `chance`, if given, is the loss of a predictor that knows nothing (log(vocab) or the unigram
    loss): the baseline has signal only if its CI's upper end is below it.
    """
    arrays = as_item_arrays([cand_losses, base_losses] + ([] if tokens is None else [tokens]))
    if tokens is not None and np.any(arrays[2] <= 0):
        raise UserInputError("loss_retention: every document needs a positive token count")
    base_mean, b_lo, b_hi = _mean_loss_ci(base_losses, tokens, n_resamples, seed)
    weights = arrays[2] if tokens is not None else np.ones_like(arrays[0])
    cand_mean, n = float(arrays[0].sum() / weights.sum()), arrays[0].size
    if not base_mean > 0:
        raise UserInputError(f"loss_retention needs a positive baseline loss, got {base_mean}")
    common = dict(metric=metric, baseline=base_mean, candidate=cand_mean, chance=chance, n=n)
    if chance is not None and not b_hi < chance:
        why = f"baseline loss {base_mean:.4g} (95% CI up to {b_hi:.4g}) is not below chance"
        return Retention(
            kind="loss_increase",
            value=None,
            ci95=None,
            no_signal=True,
            baseline_ci95=(b_lo, b_hi),
            reason=why,
            **common,
        )

    def stat(c: np.ndarray, b: np.ndarray) -> np.ndarray:
        den = b.sum(axis=-1)  # a resample of all-zero losses: undefined, worst case (+inf)
        return np.where(den > 0, c.sum(axis=-1) / np.where(den > 0, den, 1.0) - 1.0, np.inf)

    point, dist = bootstrap_distribution([cand_losses, base_losses], stat, n_resamples, seed)
    return Retention(
        kind="loss_increase",
        value=point,
        ci95=percentile_ci(dist, ALPHA),
        no_signal=False,
        baseline_ci95=(b_lo, b_hi),
        **common,
    )
