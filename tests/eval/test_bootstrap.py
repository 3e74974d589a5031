"""Paired percentile bootstrap: known values, determinism, pairing, coverage, speed."""

import time

import numpy as np
import pytest

from agent_forge.errors import UserInputError
from agent_forge.eval.bootstrap import (
    bootstrap_distribution,
    bootstrap_mean_ci,
    bootstrap_ratio_ci,
    paired_bootstrap,
    percentile_ci,
)


def diff(c, b):
    return c.mean(-1) - b.mean(-1)


def test_percentile_ci_order_statistics():
    s = np.arange(1, 2001, dtype=float)  # 1..2000
    assert percentile_ci(s, 0.05) == (50.0, 1950.0)  # the 50th and 1950th smallest
    with_inf = np.array([-np.inf, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])  # 2nd and 6th of 8
    assert percentile_ci(with_inf, 0.5) == (1.0, 5.0)
    assert percentile_ci(np.array([7.0]), 0.05) == (7.0, 7.0)


def test_constant_data_gives_zero_width():
    assert bootstrap_mean_ci([0.5] * 30) == (0.5, 0.5, 0.5)
    assert paired_bootstrap([1, 0, 1], [1, 0, 1], diff) == (0.0, 0.0, 0.0)


def test_mean_ci_brackets_the_mean_and_is_seeded():
    x = np.random.default_rng(1).binomial(1, 0.7, 200)
    m, lo, hi = bootstrap_mean_ci(x, seed=3)
    assert m == pytest.approx(x.mean()) and lo < m < hi
    assert bootstrap_mean_ci(x, seed=3) == (m, lo, hi)
    assert bootstrap_mean_ci(x, seed=4) != (m, lo, hi)
    se = np.sqrt(m * (1 - m) / 200)  # normal approximation: +-1.96 se
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_ratio_ci_is_token_weighted():
    nll, tok = [10.0, 2.0, 6.0], [5, 1, 3]  # every document 2.0 nats per token
    assert bootstrap_ratio_ci(nll, tok) == (2.0, 2.0, 2.0)
    with pytest.raises(UserInputError):
        bootstrap_ratio_ci([1.0], [0.0])


def test_paired_ci_narrower_than_unpaired_on_correlated_data():
    rng = np.random.default_rng(0)
    skill = rng.normal(size=400)  # item difficulty shared by both models
    base = skill + 0.1 * rng.normal(size=400)
    cand = skill - 0.05 + 0.1 * rng.normal(size=400)
    _, lo, hi = paired_bootstrap(cand, base, diff, n_resamples=1000)
    r1, r2 = np.random.default_rng(1), np.random.default_rng(2)
    unpaired = cand[r1.integers(0, 400, (1000, 400))].mean(-1) - base[
        r2.integers(0, 400, (1000, 400))
    ].mean(-1)
    ulo, uhi = percentile_ci(unpaired)
    assert (hi - lo) < 0.2 * (uhi - ulo)


def test_same_seed_resamples_same_items_across_calls():
    x, y = np.arange(50.0), np.arange(50.0)[::-1].copy()
    _, d1 = bootstrap_distribution([x], lambda a: a.mean(-1), 300, seed=5)
    _, d2 = bootstrap_distribution([x, y], lambda a, b: a.mean(-1), 300, seed=5)
    np.testing.assert_array_equal(d1, d2)


def test_coverage_of_binomial_mean():
    rng, p, n, hits = np.random.default_rng(123), 0.6, 100, 0
    for rep in range(200):
        _, lo, hi = bootstrap_mean_ci(rng.binomial(1, p, n), n_resamples=400, seed=rep)
        hits += lo <= p <= hi
    assert 0.89 <= hits / 200 <= 0.99


def test_fast_for_2000_resamples_of_1000_items():
    rng = np.random.default_rng(0)
    c, b = rng.random(1000), rng.random(1000)
    t0 = time.perf_counter()
    paired_bootstrap(c, b, diff, n_resamples=2000)
    assert time.perf_counter() - t0 < 1.0


def test_large_n_is_chunked_and_deterministic():
    x = np.random.default_rng(0).random(50_000)  # 2000 x 50k indices: done in chunks
    assert bootstrap_mean_ci(x, n_resamples=200) == bootstrap_mean_ci(x, n_resamples=200)


@pytest.mark.parametrize(
    "cand, base, kwargs",
    [
        ([1, 2], [1], {}),
        ([], [], {}),
        ([1, np.nan], [1, 2], {}),
        ([1, 2], [1, 2], {"n_resamples": 0}),
        ([1, 2], [1, 2], {"alpha": 1.5}),
    ],
)
def test_bad_input_raises(cand, base, kwargs):
    with pytest.raises(UserInputError):
        paired_bootstrap(cand, base, diff, **kwargs)


def test_statistic_must_be_vectorised():
    with pytest.raises(UserInputError, match="shape"):
        paired_bootstrap([1, 2, 3], [1, 2, 3], lambda c, b: float(np.mean(c) - np.mean(b)))
