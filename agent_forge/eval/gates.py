"""Quality gate after a compression stage: retention thresholds per stage, a cumulative check, and
the spec's rollback recommendations (spec §2.8.5, `_generate_recommendations`). Each metric is a
check of `eval.checks` (`retention_check`); the defaults are `config.eval_config.GateConfig`'s.

A metric whose baseline is not above chance gates nothing (SPEC_NOTES correction 8); a gate where
no metric has signal returns "no signal", which is not a pass.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from agent_forge.config.eval_config import GateConfig
from agent_forge.errors import ConfigError, UserInputError
from agent_forge.eval.checks import Check, CheckResult, Measurement, limit, overall
from agent_forge.eval.retention import Retention, json_safe

log = logging.getLogger(__name__)

Verdict = Literal["pass", "fail", "no signal"]
Scope = Literal["stage", "cumulative"]
VERDICT_ON = ("point", "lower_bound")


_DEFAULTS = GateConfig()  # the one source of the gate's defaults, with their sources


def _spec_retention() -> dict[str, float]:
    return dict(_DEFAULTS.min_retention)


def _loss_budget() -> dict[str, float]:
    return dict(_DEFAULTS.max_loss_increase)


@dataclass(frozen=True)
class GateThresholds:
    """Thresholds of the quality gate (see docs/eval/retention-and-gates.md for sources).

    `verdict_on`: "point" compares the point estimate; "lower_bound" compares the pessimistic end
    of the 95% CI (the lower bound of a retention, the upper bound of a loss increase). Both
    comparisons are always reported.
    """

    min_retention: dict[str, float] = field(default_factory=_spec_retention)
    default_min_retention: float = _DEFAULTS.default_min_retention
    cumulative_min_retention: float = _DEFAULTS.cumulative_min_retention
    max_loss_increase: dict[str, float] = field(default_factory=_loss_budget)
    default_max_loss_increase: float = _DEFAULTS.default_max_loss_increase
    cumulative_max_loss_increase: float = _DEFAULTS.cumulative_max_loss_increase
    verdict_on: Literal["point", "lower_bound"] = _DEFAULTS.verdict_on

    def __post_init__(self) -> None:
        if self.verdict_on not in VERDICT_ON:
            raise ConfigError("verdict_on", f"{self.verdict_on!r} is not one of {VERDICT_ON}")
        retentions = {**self.min_retention, "default": self.default_min_retention}
        retentions["cumulative"] = self.cumulative_min_retention
        for stage, v in retentions.items():
            if not 0.0 < v <= 1.0:
                raise ConfigError(f"min_retention.{stage}", f"{v} is not in (0, 1]")
        losses = {**self.max_loss_increase, "default": self.default_max_loss_increase}
        losses["cumulative"] = self.cumulative_max_loss_increase
        for stage, v in losses.items():
            if not (math.isfinite(v) and v >= 0.0):
                raise ConfigError(f"max_loss_increase.{stage}", f"{v} is not a number >= 0")

    def threshold(self, stage: str, kind: str, scope: Scope = "stage") -> float:
        """The threshold a metric of `kind` must meet at `stage` (or cumulatively)."""
        if kind == "chance_adjusted":
            if scope == "cumulative":
                return self.cumulative_min_retention
            return self.min_retention.get(stage, self.default_min_retention)
        if scope == "cumulative":
            return self.cumulative_max_loss_increase
        return self.max_loss_increase.get(stage, self.default_max_loss_increase)


@dataclass(frozen=True)
class MetricVerdict:
    """One metric's verdict. `bound` is the pessimistic end of the CI; `point_passes` and
    `bound_passes` say whether each meets the threshold (None without signal)."""

    metric: str
    scope: Scope
    kind: str
    verdict: Verdict
    value: float | None
    ci95: tuple[float, float] | None
    threshold: float
    comparator: Literal[">=", "<="]
    bound: float | None
    point_passes: bool | None
    bound_passes: bool | None
    baseline: float
    candidate: float
    n: int
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: json_safe(v) for k, v in asdict(self).items()}

    def summary(self) -> str:
        name = f"{self.scope}/{self.metric}"
        if self.verdict == "no signal":
            return f"{name}: no signal ({self.reason})"
        label = "retention" if self.kind == "chance_adjusted" else "loss increase"
        assert self.value is not None and self.ci95 is not None  # signal => measured
        lo, hi = self.ci95
        return (
            f"{name}: {label} {self.value:.3f} [{lo:.3f}, {hi:.3f}] "
            f"need {self.comparator} {self.threshold:.3f} -> {self.verdict}"
        )


def retention_check(
    r: Retention, threshold: float, scope: Scope = "stage", verdict_on: str = "point"
) -> Check:
    """A retention as a check: limit(min=threshold) on a chance-adjusted retention, limit(max=)
    on a loss increase, on the point or (verdict_on="lower_bound") the CI's pessimistic end. No
    signal (the retention's own test, sharing its resamples) makes the check gate nothing."""
    on = "point" if verdict_on == "point" else "bound"
    rule = limit(min=threshold, on=on) if r.higher_is_better else limit(max=threshold, on=on)
    silent = r.no_signal or r.value is None or r.ci95 is None
    why = (r.reason or "baseline has no signal") if silent else None
    m = Measurement(f"{scope}/{r.metric}", r.value, r.ci95, r.n, no_signal=why)
    label = "retention" if r.higher_is_better else "loss increase"
    return Check(m, rule, label=f"{scope}/{r.metric}: {label}", fmt=".3f")


def _judge(
    r: Retention, threshold: float, scope: Scope, verdict_on: str
) -> tuple[MetricVerdict, CheckResult]:
    if verdict_on not in VERDICT_ON:
        raise ConfigError("verdict_on", f"{verdict_on!r} is not one of {VERDICT_ON}")
    res = retention_check(r, threshold, scope, verdict_on).evaluate()
    higher = r.higher_is_better
    common = dict(
        metric=r.metric,
        scope=scope,
        kind=r.kind,
        threshold=threshold,
        comparator=">=" if higher else "<=",
        baseline=r.baseline,
        candidate=r.candidate,
        n=r.n,
    )
    if res.verdict == "no signal":
        silent = dict(value=None, ci95=None, bound=None, point_passes=None, bound_passes=None)
        return MetricVerdict(verdict="no signal", reason=res.reason, **silent, **common), res
    assert r.value is not None and r.ci95 is not None  # signal => measured
    bound = r.ci95[0] if higher else r.ci95[1]
    verdict: Verdict = "pass" if res.verdict == "pass" else "fail"  # a missing bound fails
    return MetricVerdict(
        verdict=verdict,
        value=r.value,
        ci95=r.ci95,
        bound=bound,
        point_passes=res.rule.passes(r.value),
        bound_passes=res.rule.passes(bound),
        **common,
    ), res


def judge(r: Retention, threshold: float, scope: Scope, verdict_on: str) -> MetricVerdict:
    """Verdict of one retention against one threshold (the check of `retention_check`)."""
    return _judge(r, threshold, scope, verdict_on)[0]


def generate_recommendations(stage: str, failed: Sequence[MetricVerdict]) -> dict[str, Any]:
    """The spec's `_generate_recommendations`, on the failed stage-level metrics.

    The VPTQ average is over failed chance-adjusted retentions only (the spec averages entries
    that have a 'retention'; a loss increase is not one). The spec's alternative names a size
    ("2.5MB"); the size is measured elsewhere, so it is left out here.
    """
    rec: dict[str, Any] = {"action": "rollback_and_adjust", "adjustments": {}}
    if stage == "seedlm":
        if len(failed) > 3:
            rec["adjustments"]["temperature"] = "decrease by 0.1"
    elif stage == "vptq":
        kept = [v.value for v in failed if v.kind == "chance_adjusted" and v.value is not None]
        if kept and sum(kept) / len(kept) < 0.90:
            rec["adjustments"]["quantization_bits"] = "increase from 2-bit to 3-bit"
    elif stage == "hypercompression":
        if len(failed) > 2:
            rec["action"] = "skip_hypercompression"
            rec["alternative"] = "Use VPTQ output as final model"
    return rec


@dataclass(frozen=True)
class GateReport:
    """Outcome of one gate. `passed` is True only for verdict "pass"; "no signal" is not a pass:
    the gate could not decide, and the caller must not ship on it (add a metric with signal,
    e.g. held-out loss, or score more items, then evaluate again)."""

    stage: str
    verdict: Verdict
    verdict_on: str
    metrics: list[MetricVerdict]
    recommendations: dict[str, Any] | None = None
    reason: str | None = None
    checks: tuple[CheckResult, ...] = ()  # the same metrics as `eval.checks` results

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "passed": self.passed,
            "verdict": self.verdict,
            "verdict_on": self.verdict_on,
            "reason": self.reason,
            "metrics": [m.to_dict() for m in self.metrics],
            "recommendations": self.recommendations,
            "checks": [c.to_json() for c in self.checks],
        }

    def summary(self) -> str:
        """One header line, then one line per metric."""
        head = f"gate {self.stage}: {self.verdict} (thresholds on {self.verdict_on})"
        if self.reason:
            head += f": {self.reason}"
        return "\n".join([head] + [f"  {m.summary()}" for m in self.metrics])


def _overall(stage: list[CheckResult], cum: list[CheckResult]) -> tuple[Verdict, str | None]:
    """`eval.checks.overall` of all checks, with the stage and cumulative ones also judged
    apart: either side without signal cannot decide."""
    verdict, reason = overall(stage + cum)
    if verdict == "fail":
        return verdict, reason
    if overall(stage)[0] == "no signal":
        return "no signal", "no stage metric has a baseline above chance; the gate cannot decide"
    if cum and overall(cum)[0] == "no signal":
        return "no signal", "no cumulative metric has signal; the cumulative check cannot decide"
    return "pass", None


class QualityGate:
    """Judges a stage's retentions (candidate vs the stage's input) and, optionally, cumulative
    retentions (candidate vs the original, uncompressed model)."""

    def __init__(self, thresholds: GateThresholds | None = None):
        self.thresholds = thresholds or GateThresholds()

    def evaluate(
        self,
        stage: str,
        retentions: Sequence[Retention],
        cumulative: Sequence[Retention] | None = None,
    ) -> GateReport:
        """Overall "fail" if any metric with signal fails (stage or cumulative); else "no signal"
        if no stage metric has signal, or cumulative metrics were given and none has signal;
        else "pass". Recommendations (spec §2.8.5) come only with "fail"."""
        if not retentions:
            raise UserInputError(f"gate {stage!r}: no metrics to evaluate")
        t, on = self.thresholds, self.thresholds.verdict_on
        stage_j = [_judge(r, t.threshold(stage, r.kind), "stage", on) for r in retentions]
        cum_j = [
            _judge(r, t.threshold(stage, r.kind, "cumulative"), "cumulative", on)
            for r in cumulative or []
        ]
        verdict, reason = _overall([c for _, c in stage_j], [c for _, c in cum_j])
        stage_v, cum_v = [v for v, _ in stage_j], [v for v, _ in cum_j]
        recs = None
        if verdict == "fail":
            recs = generate_recommendations(stage, [v for v in stage_v if v.verdict == "fail"])
        checks = tuple(c for _, c in stage_j + cum_j)
        report = GateReport(stage, verdict, on, stage_v + cum_v, recs, reason, checks)
        log.info("%s", report.summary())
        return report
