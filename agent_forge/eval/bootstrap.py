"""Percentile bootstrap confidence intervals, vectorised with numpy (Efron & Tibshirani 1993).

Paired: every resample draws one set of item indices and applies it to all arrays, so the
correlation between two models scored on the same items is kept (the CI of a difference or ratio
is then much narrower than if each model were resampled on its own).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from agent_forge.errors import UserInputError

# A statistic takes arrays of shape (R, n) — R resamples of the n items — and reduces the last
# axis to shape (R,). Example: `lambda c, b: c.mean(-1) - b.mean(-1)`.
Statistic = Callable[..., np.ndarray]

_CHUNK_ELEMENTS = 2_000_000  # indices per chunk: bounds memory at ~16 MB of int64 per array
_EPS = 1e-9  # keeps ceil(B * q) exact where B * q is an integer up to float rounding


def as_item_arrays(arrays: Sequence[Sequence[float]]) -> list[np.ndarray]:
    """1-D float arrays of one common, non-zero length with finite values, or UserInputError."""
    out = [np.asarray(a, dtype=np.float64) for a in arrays]
    lengths = {a.shape for a in out}
    if len(lengths) != 1 or out[0].ndim != 1:
        raise UserInputError(f"bootstrap needs 1-D arrays of one length, got shapes {lengths}")
    if out[0].size == 0:
        raise UserInputError("bootstrap needs at least one item, got none")
    for a in out:
        if not np.all(np.isfinite(a)):
            raise UserInputError("bootstrap inputs must be finite (found NaN or inf)")
    return out


def _check(n_resamples: int, alpha: float) -> None:
    if n_resamples < 1:
        raise UserInputError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < alpha < 1.0:
        raise UserInputError(f"alpha must be in (0, 1), got {alpha}")


def _index_chunks(n: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Resampled item indices, (rows, n) at a time. The same (n, n_resamples, seed) always yields
    the same indices, so two calls with one seed resample the very same items."""
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, n_resamples, rows):
        yield rng.integers(0, n, size=(min(rows, n_resamples - start), n))


def _apply(statistic: Statistic, arrays: list[np.ndarray], rows: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(statistic(*arrays), dtype=np.float64)
    if out.shape != (rows,):
        raise UserInputError(
            f"statistic must reduce the last axis of (R, n) arrays to shape (R,); for R={rows} it "
            f"returned shape {out.shape}"
        )
    return out


def bootstrap_distribution(
    arrays: Sequence[Sequence[float]],
    statistic: Statistic,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, np.ndarray]:
    """The statistic on the data (point estimate) and on `n_resamples` paired resamples: (B,)."""
    data = as_item_arrays(arrays)
    _check(n_resamples, 0.05)
    point = float(_apply(statistic, [a[None, :] for a in data], 1)[0])
    parts = [
        _apply(statistic, [a[idx] for a in data], idx.shape[0])
        for idx in _index_chunks(data[0].size, n_resamples, seed)
    ]
    return point, np.concatenate(parts)


def percentile_ci(samples: np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile interval without interpolation: the ceil(B*alpha/2)-th and ceil(B*(1-alpha/2))-th
    smallest of B samples. Using order statistics (not interpolating) keeps -inf/+inf samples,
    which callers use to mark undefined resamples, from turning the bounds into NaN."""
    _check(1, alpha)
    s = np.sort(np.asarray(samples, dtype=np.float64))
    b = s.size
    k_lo = max(math.ceil(b * alpha / 2 - _EPS), 1) - 1
    k_hi = min(max(math.ceil(b * (1 - alpha / 2) - _EPS), 1), b) - 1
    return float(s[k_lo]), float(s[k_hi])


def paired_bootstrap(
    cand: Sequence[float],
    base: Sequence[float],
    statistic: Statistic,
    n_resamples: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """(point, lo, hi): percentile CI of `statistic(cand, base)`, resampling items jointly.

    `statistic` gets two (R, n) arrays and returns (R,); the point estimate calls it with R=1.
    """
    _check(n_resamples, alpha)
    point, dist = bootstrap_distribution([cand, base], statistic, n_resamples, seed)
    lo, hi = percentile_ci(dist, alpha)
    return point, lo, hi


def _mean(values: np.ndarray) -> np.ndarray:
    return values.mean(axis=-1)


def _ratio_of_sums(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return num.sum(axis=-1) / den.sum(axis=-1)


def bootstrap_mean_ci(
    values: Sequence[float], n_resamples: int = 2000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """(mean, lo, hi) of one score per item. Same indices as `paired_bootstrap` with one seed."""
    _check(n_resamples, alpha)
    point, dist = bootstrap_distribution([values], _mean, n_resamples, seed)
    lo, hi = percentile_ci(dist, alpha)
    return point, lo, hi


def bootstrap_ratio_ci(
    num: Sequence[float],
    den: Sequence[float],
    n_resamples: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """(sum(num)/sum(den), lo, hi), resampling items: e.g. per-document summed NLL over token
    counts gives the token-weighted mean loss with a document-level CI."""
    _check(n_resamples, alpha)
    if float(np.sum(np.asarray(den, dtype=np.float64))) <= 0:
        raise UserInputError("bootstrap_ratio_ci needs a positive sum of denominators")
    point, dist = bootstrap_distribution([num, den], _ratio_of_sums, n_resamples, seed)
    lo, hi = percentile_ci(dist, alpha)
    return point, lo, hi
