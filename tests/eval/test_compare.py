"""Retention of suite results: items paired by id, chance-adjusted scores, loss increase."""

from __future__ import annotations

import math

import pytest

from agent_forge.config.eval_config import GateConfig
from agent_forge.eval.compare import suite_retention
from agent_forge.eval.gates import GateThresholds, QualityGate
from agent_forge.eval.runner import ItemScore, MetricScore, SuiteResult


def _acc_result(correct: list[int], order: list[int] | None = None) -> SuiteResult:
    order = order or list(range(len(correct)))
    items = [ItemScore(f"q{i}", "", {"acc": float(correct[i])}) for i in order]
    m = MetricScore(sum(correct) / len(correct), (0.0, 1.0), len(correct), 0.25)
    return SuiteResult("mc", "choice", len(items), {"acc": m}, items=items)


def test_chance_adjusted_retention_pairs_items_by_id():
    base = _acc_result([1] * 60 + [0] * 40)  # 0.60
    cand = _acc_result([1] * 50 + [0] * 50, order=list(reversed(range(100))))  # 0.50, shuffled
    (r,) = suite_retention(cand, base, n_resamples=500)
    assert r.value == pytest.approx((0.50 - 0.25) / (0.60 - 0.25))
    assert not r.no_signal and r.ci95[0] < r.value < r.ci95[1]


def test_loss_retention_is_the_relative_increase():
    def res(nll):
        items = [ItemScore(f"d{i}", "", {"nll": n, "tokens": 10.0}) for i, n in enumerate(nll)]
        m = MetricScore(sum(nll) / (10 * len(nll)), (0, 0), len(nll), math.log(512), False)
        return SuiteResult("loss_test", "loss", len(items), {"loss": m}, items=items)

    (r,) = suite_retention(res([22.0, 22.0, 22.0]), res([20.0, 20.0, 20.0]), n_resamples=200)
    assert r.kind == "loss_increase" and r.value == pytest.approx(0.10)


def test_different_items_or_suites_are_refused():
    with pytest.raises(ValueError, match="different items"):
        suite_retention(_acc_result([1, 0, 1]), _acc_result([1, 0]))


def test_a_gate_on_a_baseline_at_chance_says_no_signal():
    base = _acc_result([1] * 25 + [0] * 75)  # exactly chance
    report = QualityGate().evaluate("vptq", suite_retention(_acc_result([0] * 100), base))
    assert report.verdict == "no signal" and not report.passed


def test_config_gate_defaults_are_the_library_defaults():
    assert GateThresholds(**GateConfig().model_dump()) == GateThresholds()
