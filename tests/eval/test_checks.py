"""Checks, gates and ladders: each rule kind passing and failing, CI-decided superiority, no-signal
exclusion, missing = fail, the ladder's choice, JSON round trips, bad rules raising; the CI rule
per metric kind and the one held-out loss function."""

from __future__ import annotations

import json
import math

import pytest
import torch

from agent_forge.errors import UserInputError
from agent_forge.eval.checks import (
    GateResult,
    LadderResult,
    Option,
    Rule,
    check,
    from_json,
    gate,
    in_range,
    ladder,
    limit,
    non_inferiority,
    superiority,
)
from agent_forge.eval.ci import ci_for
from agent_forge.eval.loss import evaluate_loss, window_loss
from agent_forge.eval.stats import wilson_interval


def verdict(value, rule, **kw):
    return check("m", value, rule, **kw).evaluate().verdict


@pytest.mark.parametrize(
    "value, rule, expected",
    [
        (25e6, in_range(22.5e6, 27.5e6), "pass"),
        (22.5e6, in_range(22.5e6, 27.5e6), "pass"),  # ends included
        (28e6, in_range(22.5e6, 27.5e6), "fail"),
        (22.5e6, in_range(22.5e6, 27.5e6, inclusive=False), "fail"),
        (0.7, limit(min=0.7), "pass"),  # "drop at least 0.7"
        (0.69, limit(min=0.7), "fail"),
        (2.9, limit(max=3.0, inclusive=False), "pass"),  # "loss below 3.0"
        (3.0, limit(max=3.0, inclusive=False), "fail"),
        (3.0, limit(max=3.0), "pass"),
    ],
)
def test_range_and_limit_pass_and_fail(value, rule, expected):
    assert verdict(value, rule) == expected


def test_limit_on_the_bound_uses_the_pessimistic_end_of_the_ci():
    assert verdict(0.99, limit(min=0.98), ci=(0.97, 1.0)) == "pass"
    assert verdict(0.99, limit(min=0.98, on="bound"), ci=(0.97, 1.0)) == "fail"
    assert verdict(0.04, limit(max=0.05, on="bound"), ci=(0.03, 0.06)) == "fail"  # upper end
    assert verdict(0.04, limit(max=0.05, on="bound"), ci=(0.03, 0.05)) == "pass"


def test_superiority_is_decided_on_the_ci_not_the_point():
    # the point beats the reference but the CI straddles it: not shown to be better
    straddles = check("acc", 0.62, superiority(0.60), ci=(0.55, 0.69), n=200).evaluate()
    assert straddles.verdict == "fail" and straddles.decided_on == 0.55
    assert verdict(0.70, superiority(0.60), ci=(0.65, 0.75)) == "pass"
    assert verdict(0.70, superiority(0.60, 0.05), ci=(0.65, 0.75)) == "fail"  # lo must clear 0.65
    # lower is better: the CI's upper end must be below reference - margin
    assert verdict(2.5, superiority(3.0, 0.1, higher_is_better=False), ci=(2.4, 2.8)) == "pass"
    assert verdict(2.5, superiority(3.0, higher_is_better=False), ci=(2.4, 3.1)) == "fail"
    # a difference with its paired CI against 0
    assert verdict(0.03, superiority(0.0), ci=(0.01, 0.05)) == "pass"


def test_non_inferiority_allows_the_margin():
    assert verdict(0.58, non_inferiority(0.60, 0.05), ci=(0.55, 0.61)) == "pass"
    assert verdict(0.58, non_inferiority(0.60, 0.05), ci=(0.54, 0.61)) == "fail"
    lower = non_inferiority(3.0, 0.1, higher_is_better=False)
    assert (
        verdict(3.05, lower, ci=(3.0, 3.1)) == "pass"
        and verdict(3.05, lower, ci=(3.0, 3.2)) == "fail"
    )


def test_a_ci_rule_without_a_ci_is_missing():
    r = check("acc", 0.9, superiority(0.5)).evaluate()
    assert r.verdict == "missing" and r.failed and "no CI" in r.message


@pytest.mark.parametrize("value", [None, math.nan])
def test_missing_measurement_is_a_fail(value):
    r = check("loss", value, limit(max=3.0)).evaluate()
    assert r.verdict == "missing" and r.value is None and "counts as a fail" in r.message
    g = gate("g", [check("ok", 1.0, limit(min=0.5)), check("loss", value, limit(max=3.0))])
    assert g.verdict == "fail" and not g.passed and "loss: missing" in g.error()


def test_baseline_at_chance_has_no_signal_and_is_excluded():
    silent = check("mmlu", 0.3, limit(min=0.9), chance=0.25, baseline=0.26, baseline_ci=(0.2, 0.33))
    r = silent.evaluate()
    assert r.verdict == "no signal" and "not above chance 0.25" in r.reason
    assert gate("g", [silent, check("loss", 2.0, limit(max=3.0))]).verdict == "pass"
    assert gate("g", [silent, check("loss", 4.0, limit(max=3.0))]).verdict == "fail"
    # a loss baseline must be below chance (log V); here it is: the check has signal
    loss = check("loss", 3.5, limit(max=3.0), chance=9.0, baseline=3.2)
    assert loss.evaluate().verdict == "fail"
    upstream = check("r", None, limit(min=0.9), no_signal="baseline 0.26 is at chance")
    assert upstream.evaluate().verdict == "no signal"  # never "missing"


def test_all_no_signal_is_no_signal_not_a_pass():
    silent = [check(f"b{i}", 0.3, limit(min=0.9), chance=0.25, baseline=0.25) for i in range(2)]
    g = gate("g", silent)
    assert g.verdict == "no signal" and not g.passed and "cannot decide" in g.reason
    assert g.error() is not None


def test_gate_messages_name_value_ci_rule_and_limit():
    g = gate(
        "cognate",
        [
            check(
                "m1/level1",
                0.35,
                superiority(0.30),
                ci=(0.25, 0.46),
                n=60,
                label="m1: level-1 accuracy",
                note="majority-answer chance",
                fmt=".3f",
            ),
            check("m1/drop", 0.45, limit(min=0.5), label="m1: held-out loss fell", fmt=".1%"),
        ],
    )
    msgs = [c.message for c in g.checks]
    assert msgs[0] == (
        "m1: level-1 accuracy 0.350 [0.250, 0.460] (n=60): need CI low > 0.300 (superiority to "
        "reference 0.300) (majority-answer chance) -> fail"
    )
    assert msgs[1] == "m1: held-out loss fell 45.0%: need >= 50.0% -> fail"
    assert g.error() == "; ".join(msgs) and g.reason == "failed: m1/level1, m1/drop"
    margin = check("d", 0.02, non_inferiority(0.0, 0.05), ci=(-0.03, 0.06), fmt=".2f").evaluate()
    assert margin.message == (
        "d 0.02 [-0.03, 0.06]: need CI low >= -0.05 (non-inferiority to reference 0.00 - margin "
        "0.05) -> pass"
    )


def test_empty_gate_raises_unless_allowed():
    with pytest.raises(UserInputError):
        gate("g", [])
    assert gate("g", [], allow_empty=True).passed


def test_ladder_chooses_the_first_passing_option_and_skips_the_rest():
    measured = []

    def later():
        measured.append("later")
        return [check("x", 1.0, limit(min=0.5))]

    res = ladder(
        "compression",
        [
            Option("seedlm+vptq+hyper", [check("ret", 0.80, limit(min=0.84))]),
            Option("seedlm+vptq", [check("ret", 0.90, limit(min=0.84))]),
            Option("seedlm", later),
        ],
    )
    assert res.chosen == "seedlm+vptq" and res.passed and res.fallback
    assert [g.name for g in res.tried] == ["seedlm+vptq+hyper", "seedlm+vptq"]
    assert measured == []  # a rung after the chosen one is never measured
    assert "ret 0.8: need >= 0.84 -> fail" in res.primary.error()


def test_ladder_fails_when_no_option_passes_and_an_unconditional_last_resort():
    opts = [
        Option("a", [check("x", 0.1, limit(min=0.5))]),
        Option("b", [check("y", 9.0, limit(max=1))]),
    ]
    res = ladder("l", opts)
    assert res.chosen is None and not res.passed and res.verdict == "fail" and not res.fallback
    assert res.error().startswith("a: x 0.1") and "; b: y 9" in res.error()
    rescued = ladder("l", [*opts, Option("input")])
    assert rescued.chosen == "input" and rescued.fallback and rescued.verdict == "pass"
    first = ladder("l", [Option("a", [check("x", 0.9, limit(min=0.5))]), Option("input")])
    assert first.chosen == "a" and not first.fallback
    with pytest.raises(UserInputError):
        ladder("l", [Option("a"), Option("a")])


def test_json_round_trip():
    g = gate(
        "g",
        [
            check("p", 25_000_000, in_range(22_500_000, 27_500_000), fmt=",.0f"),
            check("acc", 0.62, superiority(0.6), ci=(0.55, 0.69), n=200),
            check("loss", math.nan, limit(max=3.0)),
            check("mmlu", 0.3, limit(min=0.9), chance=0.25, baseline=0.25),
        ],
    )
    d = json.loads(json.dumps(g.to_json(), allow_nan=False))
    assert GateResult.from_json(d) == g and from_json(d) == g
    assert [c["verdict"] for c in d["checks"]] == ["pass", "fail", "missing", "no signal"]
    lad = ladder("l", [Option("a", [check("x", 0.1, limit(min=0.5))]), Option("b")])
    d = json.loads(json.dumps(lad.to_json(), allow_nan=False))
    assert LadderResult.from_json(d) == lad and from_json(d) == lad
    assert d["chosen"] == "b" and d["fallback"] is True


@pytest.mark.parametrize(
    "make",
    [
        lambda: in_range(3, 1),
        lambda: in_range(0, math.inf),
        lambda: limit(),
        lambda: limit(min=0.1, max=0.2),
        lambda: limit(max=math.nan),
        lambda: limit(min=0.5, on="median"),
        lambda: superiority(0.5, -0.1),
        lambda: superiority(None),
        lambda: non_inferiority(0.5, math.inf),
        lambda: Rule("between", lo=0, hi=1),
        lambda: Rule("limit", lo=0.5, higher_is_better=False),
        lambda: check("x", 1.0, limit(min=0.5), ci=(0.9, 0.8)),
    ],
)
def test_bad_rule_arguments_raise(make):
    with pytest.raises(UserInputError):
        make()


def test_ci_rule_per_metric_kind():
    scores = [1.0] * 30 + [0.0] * 70
    assert ci_for("proportion", scores) == (0.3, *wilson_interval(30, 100))
    mean, lo, hi = ci_for("mean", [0.2, 0.5, 0.9, 0.4] * 10, n_resamples=500)
    assert mean == pytest.approx(0.5) and lo < mean < hi
    diff, lo, hi = ci_for("paired_difference", [1.0] * 50 + [0.0] * 50, scores, n_resamples=500)
    assert diff == pytest.approx(0.2) and 0 < lo < diff < hi
    loss, lo, hi = ci_for("loss", [10.0, 30.0, 20.0], [5.0, 10.0, 10.0], n_resamples=500)
    assert loss == pytest.approx(60 / 25) and lo <= loss <= hi
    with pytest.raises(UserInputError):
        ci_for("proportion", [0.5, 1.0])  # graded scores are kind "mean"
    with pytest.raises(UserInputError):
        ci_for("median", scores)


class _Bigram(torch.nn.Module):
    def __init__(self, vocab: int = 11):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(vocab, vocab)

    def forward(self, input_ids):
        return type("Out", (), {"logits": self.emb(input_ids)})()


def test_evaluate_loss_is_mean_ce_over_non_overlapping_windows():
    net, tokens = (
        _Bigram(),
        torch.randint(0, 11, (100,), generator=torch.Generator().manual_seed(1)),
    )
    windows = tokens[:96].view(12, 8)  # 100 // 8 = 12 windows; the tail is dropped
    logits = net.emb(windows)[:, :-1].detach()
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, 11), windows[:, 1:].reshape(-1))
    assert evaluate_loss(net, tokens, 8, max_batches=4, batch_size=5) == pytest.approx(float(ce))
    capped = window_loss(net, windows[:4], batch_size=3)  # max_batches * batch_size windows
    assert evaluate_loss(net, tokens, 8, max_batches=2, batch_size=2) == pytest.approx(capped)
    assert evaluate_loss(net, tokens[:5], 8, max_batches=1) == 0.0  # shorter than a window
    assert net.training  # mode restored


def test_evaluate_loss_gives_training_s_numbers_exactly():
    from agent_forge.training import evaluate_loss as training_evaluate_loss

    net, tokens = (
        _Bigram(),
        torch.randint(0, 11, (300,), generator=torch.Generator().manual_seed(2)),
    )
    for seq_len, max_batches, batch_size in [(8, 2, 16), (16, 1, 4), (7, 3, 5)]:
        ours = evaluate_loss(net, tokens, seq_len, max_batches, batch_size)
        assert ours == training_evaluate_loss(net, tokens, seq_len, max_batches, batch_size)


def test_the_quality_gate_is_built_on_checks_with_the_config_s_defaults():
    from agent_forge.config.eval_config import GateConfig
    from agent_forge.eval.gates import GateThresholds, QualityGate
    from agent_forge.eval.retention import retention

    assert GateThresholds() == GateThresholds(**GateConfig().model_dump())  # defined once
    kept = retention([1] * 50 + [0] * 50, [1] * 60 + [0] * 40, 0.25, metric="acc")
    silent = retention([1] * 25 + [0] * 75, [1] * 26 + [0] * 74, 0.25, metric="mmlu")
    report = QualityGate().evaluate("hypercompression", [kept, silent])
    assert [c.verdict for c in report.checks] == [m.verdict for m in report.metrics]
    assert [c.verdict for c in report.checks] == ["fail", "no signal"]
    d = report.to_dict()["checks"][0]
    assert d["rule"] == limit(min=0.90).to_json() and "stage/acc: retention 0.714" in d["message"]
