"""QualityGate: verdicts per metric and overall, CI modes, cumulative check, recommendations."""

import json

import pytest

from agent_forge.errors import ConfigError, UserInputError
from agent_forge.eval.gates import GateThresholds, QualityGate
from agent_forge.eval.retention import Retention, retention


def ret(value, lo=None, hi=None, metric="acc"):
    """A chance-adjusted retention with a given value and CI."""
    lo = value - 0.02 if lo is None else lo
    hi = value + 0.02 if hi is None else hi
    return Retention(
        metric, "chance_adjusted", value, (lo, hi), 0.6, 0.5, 0.25, 500, False, (0.55, 0.65)
    )


def loss(value, lo, hi, metric="loss"):
    return Retention(
        metric,
        "loss_increase",
        value,
        (lo, hi),
        3.0,
        3.0 * (1 + value),
        None,
        200,
        False,
        (2.9, 3.1),
    )


def silent(metric="mmlu"):
    return Retention(
        metric,
        "chance_adjusted",
        None,
        None,
        0.26,
        0.25,
        0.25,
        100,
        True,
        (0.18, 0.35),
        reason="baseline 0.26 is not above chance",
    )


def test_pass_on_point_and_both_comparisons_reported():
    report = QualityGate().evaluate("seedlm", [ret(0.99, 0.97, 1.0)])
    assert report.passed and report.verdict == "pass" and report.recommendations is None
    m = report.metrics[0]
    assert (m.threshold, m.comparator, m.bound) == (0.98, ">=", 0.97)
    assert m.point_passes is True and m.bound_passes is False


def test_lower_bound_mode_fails_where_point_passes():
    gate = QualityGate(GateThresholds(verdict_on="lower_bound"))
    report = gate.evaluate("seedlm", [ret(0.99, 0.97, 1.0)])
    assert not report.passed and report.verdict == "fail"
    assert report.recommendations == {"action": "rollback_and_adjust", "adjustments": {}}


def test_stage_thresholds_from_the_spec_and_default():
    t = GateThresholds()
    assert [t.threshold(s, "chance_adjusted") for s in ("seedlm", "vptq", "hypercompression")] == [
        0.98,
        0.95,
        0.90,
    ]
    assert t.threshold("some_other_stage", "chance_adjusted") == 0.95
    assert t.threshold("vptq", "chance_adjusted", "cumulative") == 0.84
    assert QualityGate().evaluate("other", [ret(0.94)]).verdict == "fail"
    assert QualityGate().evaluate("hypercompression", [ret(0.91)]).verdict == "pass"


def test_loss_increase_gated_by_its_own_threshold():
    gate = QualityGate()
    assert gate.evaluate("vptq", [loss(0.04, 0.03, 0.05)]).passed
    failed = gate.evaluate("vptq", [loss(0.06, 0.05, 0.07)])
    assert failed.verdict == "fail" and failed.metrics[0].comparator == "<="
    strict = QualityGate(GateThresholds(verdict_on="lower_bound"))
    report = strict.evaluate("vptq", [loss(0.04, 0.03, 0.06)])  # upper bound is pessimistic
    assert report.verdict == "fail" and report.metrics[0].bound == 0.06


def test_no_signal_anywhere_is_not_a_pass():
    report = QualityGate().evaluate("vptq", [silent("mmlu"), silent("arc")])
    assert report.verdict == "no signal" and report.passed is False
    assert report.recommendations is None and "cannot decide" in report.reason
    assert all(m.verdict == "no signal" and m.point_passes is None for m in report.metrics)


def test_metrics_without_signal_gate_nothing():
    assert QualityGate().evaluate("vptq", [silent(), ret(0.97)]).verdict == "pass"
    assert QualityGate().evaluate("vptq", [silent(), ret(0.80)]).verdict == "fail"


def test_cumulative_failure_fails_the_gate():
    report = QualityGate().evaluate("hypercompression", [ret(0.95)], cumulative=[ret(0.80)])
    assert report.verdict == "fail" and "cumulative/acc" in report.reason
    assert [m.scope for m in report.metrics] == ["stage", "cumulative"]
    assert report.metrics[1].threshold == 0.84
    assert report.recommendations["action"] == "rollback_and_adjust"
    ok = QualityGate().evaluate("hypercompression", [ret(0.95)], cumulative=[ret(0.86)])
    assert ok.passed


def test_cumulative_without_signal_cannot_pass():
    report = QualityGate().evaluate("vptq", [ret(0.97)], cumulative=[silent()])
    assert report.verdict == "no signal" and not report.passed


@pytest.mark.parametrize(
    "n_failed, expected",
    [(4, {"temperature": "decrease by 0.1"}), (3, {})],
)
def test_seedlm_recommendation(n_failed, expected):
    rets = [ret(0.90, metric=f"m{i}") for i in range(n_failed)] + [ret(0.99, metric="ok")]
    rec = QualityGate().evaluate("seedlm", rets).recommendations
    assert rec == {"action": "rollback_and_adjust", "adjustments": expected}


@pytest.mark.parametrize(
    "values, expected",
    [
        ([0.85, 0.92], {"quantization_bits": "increase from 2-bit to 3-bit"}),  # mean 0.885
        ([0.93, 0.94], {}),
    ],
)
def test_vptq_recommendation(values, expected):
    rets = [ret(v, metric=f"m{i}") for i, v in enumerate(values)]
    rec = QualityGate().evaluate("vptq", rets).recommendations
    assert rec == {"action": "rollback_and_adjust", "adjustments": expected}


def test_vptq_average_ignores_loss_metrics():
    rec = QualityGate().evaluate("vptq", [loss(0.5, 0.4, 0.6)]).recommendations
    assert rec == {"action": "rollback_and_adjust", "adjustments": {}}


def test_hypercompression_recommendation():
    three = [ret(0.5, metric=f"m{i}") for i in range(3)]
    rec = QualityGate().evaluate("hypercompression", three).recommendations
    assert rec["action"] == "skip_hypercompression" and "VPTQ" in rec["alternative"]
    rec = QualityGate().evaluate("hypercompression", three[:2]).recommendations
    assert rec == {"action": "rollback_and_adjust", "adjustments": {}}


def test_report_json_round_trip_and_summary():
    report = QualityGate().evaluate(
        "vptq", [ret(0.80), silent(), loss(0.02, 0.01, 0.03)], cumulative=[ret(0.79)]
    )
    d = report.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["passed"] is False and d["verdict"] == "fail" and len(d["metrics"]) == 4
    lines = report.summary().splitlines()
    assert len(lines) == 5 and lines[0].startswith("gate vptq: fail")
    assert "stage/acc: retention 0.800 [0.780, 0.820] need >= 0.950 -> fail" in lines[1]
    assert "no signal" in lines[2]


def test_end_to_end_from_scores():
    base = [1] * 60 + [0] * 40
    cand = [1] * 50 + [0] * 50
    r = retention(cand, base, 0.25, metric="acc")  # 0.714
    report = QualityGate().evaluate("hypercompression", [r])
    assert report.verdict == "fail" and report.metrics[0].value == pytest.approx(0.25 / 0.35)


def test_bad_thresholds_and_inputs_raise():
    with pytest.raises(ConfigError, match="verdict_on"):
        GateThresholds(verdict_on="median")
    with pytest.raises(ConfigError, match="min_retention.vptq"):
        GateThresholds(min_retention={"vptq": 1.5})
    with pytest.raises(ConfigError):
        GateThresholds(cumulative_max_loss_increase=-0.1)
    with pytest.raises(UserInputError):
        QualityGate().evaluate("vptq", [])
