"""One 95% confidence-interval rule per kind of metric, so every scorer, report and gate computes
a CI of the same kind the same way (docs/eval/retention-and-gates.md, "Which CI for which
metric"). Retentions (a ratio of two models on the same items) are `eval.retention`'s: paired
bootstrap."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from agent_forge.errors import UserInputError
from agent_forge.eval.bootstrap import bootstrap_mean_ci, bootstrap_ratio_ci, paired_bootstrap
from agent_forge.eval.stats import wilson_interval

CIKind = Literal["proportion", "mean", "paired_difference", "loss"]
CI_RULES: dict[str, str] = {
    "proportion": "Wilson score interval (z = 1.96) of one model's 0/1 scores",
    "mean": "percentile bootstrap over items of one model's graded scores",
    "paired_difference": "paired percentile bootstrap over items of mean(a) - mean(b): two "
    "models (or two settings) scored on the same items",
    "loss": "percentile bootstrap over documents (or windows) of sum(nll) / sum(tokens)",
    "retention": "paired percentile bootstrap over items (eval.retention)",
}


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a.mean(axis=-1) - b.mean(axis=-1)


def _proportion(scores: Sequence[float]) -> tuple[float, float, float]:
    values = [float(s) for s in scores]
    if not values:
        raise UserInputError("a proportion needs at least one score, got none")
    if any(v not in (0.0, 1.0) for v in values):
        raise UserInputError("a proportion's scores must be 0 or 1; use kind='mean' for graded")
    lo, hi = wilson_interval(int(sum(values)), len(values))
    return sum(values) / len(values), lo, hi


def ci_for(
    kind: CIKind, *data: Sequence[float], n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """(point, low, high) with the 95% CI of `kind`'s rule (CI_RULES):

    - "proportion" (scores): accuracy-like 0/1 scores of one model; Wilson.
    - "mean" (scores): graded per-item scores of one model; bootstrap over items.
    - "paired_difference" (a, b): mean(a) - mean(b) on the same items; paired bootstrap.
    - "loss" (nll, tokens): token-weighted mean loss from per-document (or per-window) summed
      NLL and token counts; bootstrap over documents (tokens of one document are correlated).
    """
    arity = {"proportion": 1, "mean": 1, "paired_difference": 2, "loss": 2}
    if kind not in arity:
        raise UserInputError(f"CI kind {kind!r} is not one of {sorted(arity)}")
    if len(data) != arity[kind]:
        raise UserInputError(f"CI kind {kind!r} takes {arity[kind]} arrays, got {len(data)}")
    if kind == "proportion":
        return _proportion(data[0])
    if kind == "mean":
        return bootstrap_mean_ci(data[0], n_resamples, seed)
    if kind == "paired_difference":
        return paired_bootstrap(data[0], data[1], _diff, n_resamples, seed)
    return bootstrap_ratio_ci(data[0], data[1], n_resamples, seed)
