"""Chance-adjusted retention and held-out loss increase, with paired bootstrap CIs."""

import json

import numpy as np
import pytest

from agent_forge.errors import UserInputError
from agent_forge.eval.bootstrap import bootstrap_distribution
from agent_forge.eval.retention import Retention, loss_retention, retention


def acc(correct: int, n: int = 100) -> list[int]:
    return [1] * correct + [0] * (n - correct)


def test_known_retention_value():
    r = retention(acc(50), acc(60), 0.25, metric="acc")
    assert r.value == pytest.approx(0.25 / 0.35)
    assert (r.baseline, r.candidate, r.chance, r.n) == (0.6, 0.5, 0.25, 100)
    assert r.ci95[0] < r.value < r.ci95[1]
    assert not r.no_signal and r.baseline_ci95[0] > 0.25
    assert r.kind == "chance_adjusted" and r.higher_is_better


def test_identical_scores_retain_everything_with_zero_width():
    base = np.random.default_rng(0).binomial(1, 0.7, 200)
    r = retention(base, base, 0.25)
    assert r.value == 1.0 and r.ci95 == (1.0, 1.0)


def test_seed_makes_results_deterministic():
    rng = np.random.default_rng(0)
    base = rng.binomial(1, 0.7, 300)
    cand = np.where(rng.random(300) < 0.1, 1 - base, base)
    assert retention(cand, base, 0.25, seed=1) == retention(cand, base, 0.25, seed=1)
    assert retention(cand, base, 0.25, seed=1).ci95 != retention(cand, base, 0.25, seed=2).ci95


def test_baseline_at_chance_has_no_signal():
    r = retention(acc(40), acc(25), 0.25, metric="mmlu")
    assert r.no_signal and r.value is None and r.ci95 is None
    assert "not above chance" in r.reason
    assert r.baseline == 0.25 and r.candidate == 0.40  # still reported


def test_undefined_resamples_are_worst_case_and_keep_the_ci_finite():
    base = acc(17, 40)  # mean 0.425: signal, but some resamples fall to chance
    cand = acc(15, 40)
    r = retention(cand, base, 0.25, n_resamples=2000, seed=0)
    assert not r.no_signal and np.isfinite(r.ci95[0])
    _, base_means = bootstrap_distribution([base], lambda b: b.mean(-1), 2000, seed=0)
    undefined = int(np.sum(base_means <= 0.25))
    assert 0 < undefined < 50  # fewer than ceil(2000 * 0.025): the lower bound stays finite


def test_retention_ci_covers_the_true_value():
    rng, hits = np.random.default_rng(7), 0
    true = (0.6 - 0.25) / (0.7 - 0.25)  # cand loses 1/7 of base's correct answers
    for rep in range(100):
        base = rng.binomial(1, 0.7, 300)
        cand = base * (rng.random(300) >= 1 / 7)
        lo, hi = retention(cand, base, 0.25, n_resamples=400, seed=rep).ci95
        hits += lo <= true <= hi
    assert hits >= 85


def test_to_dict_is_strict_json_and_round_trips():
    for r in (retention(acc(50), acc(60), 0.25), retention(acc(40), acc(25), 0.25)):
        d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
        assert d == r.to_dict()
        assert Retention.from_dict(d) == r


def test_loss_increase_known_values():
    base = [2.0, 3.0, 4.0]
    r = loss_retention([1.1 * x for x in base], base)
    assert r.kind == "loss_increase" and not r.higher_is_better
    assert r.value == pytest.approx(0.1)
    assert r.ci95 == pytest.approx((0.1, 0.1))  # every item rose by 10%
    assert (r.baseline, r.candidate) == pytest.approx((3.0, 3.3))


def test_loss_increase_token_weighted():
    base_nll, tokens = [20.0, 3.0], [10, 1]  # 2.0 and 3.0 nats per token
    cand_nll = [22.0, 3.0]  # first document +10%, second unchanged
    r = loss_retention(cand_nll, base_nll, tokens=tokens)
    assert r.baseline == pytest.approx(23 / 11) and r.candidate == pytest.approx(25 / 11)
    assert r.value == pytest.approx(25 / 23 - 1)
    assert r.ci95[0] <= r.value <= r.ci95[1]


def test_loss_improvement_is_negative_and_ci_brackets_it():
    rng = np.random.default_rng(0)
    base = rng.uniform(2.0, 4.0, 500)
    cand = base * rng.uniform(0.9, 1.0, 500)
    r = loss_retention(cand, base)
    assert r.value < 0 and r.ci95[0] <= r.value <= r.ci95[1] < 0


def test_loss_at_chance_has_no_signal():
    r = loss_retention([6.3, 6.2], [6.2, 6.3], chance=float(np.log(512)))
    assert r.no_signal and r.value is None and "not below chance" in r.reason
    assert not loss_retention([2.1, 2.2], [2.0, 2.1], chance=float(np.log(512))).no_signal


@pytest.mark.parametrize(
    "call",
    [
        lambda: retention([1, 0], [1, 0, 1], 0.25),
        lambda: retention([1, 0], [1, 0], float("nan")),
        lambda: retention([], [], 0.25),
        lambda: loss_retention([1.0, 2.0], [1.0, 2.0], tokens=[1, 0]),
        lambda: loss_retention([1.0], [0.0]),
    ],
)
def test_bad_input_raises(call):
    with pytest.raises(UserInputError):
        call()
