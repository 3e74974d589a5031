"""Checks and gates, the one gate helper every phase uses: a check is a measurement (value, 95%
CI, n, chance / baseline) judged by a rule (`eval.rules`); a gate is a list of checks with an
overall verdict; a ladder is an ordered list of options, the first whose gate passes is chosen.
See docs/eval/retention-and-gates.md.

Check verdicts: "pass", "fail", "no signal" (the baseline is not above chance: the check gates
nothing, SPEC_NOTES correction 8) and "missing" (None / NaN, or no CI where the rule needs one):
a missing measurement counts as a fail.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from agent_forge.errors import UserInputError
from agent_forge.eval.rules import Rule, in_range, limit, measured, non_inferiority, superiority

__all__ = [
    "Check",
    "CheckResult",
    "GateResult",
    "LadderResult",
    "Measurement",
    "Option",
    "Rule",
    "check",
    "from_json",
    "gate",
    "in_range",
    "ladder",
    "limit",
    "non_inferiority",
    "overall",
    "superiority",
]

CheckVerdict = Literal["pass", "fail", "no signal", "missing"]
GateVerdict = Literal["pass", "fail", "no signal"]
FAILING = ("fail", "missing")


def _safe(x: Any) -> Any:
    """Strict-JSON value: tuples as lists, non-finite floats as None."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, tuple | list):
        return [_safe(v) for v in x]
    if isinstance(x, dict):
        return {k: _safe(v) for k, v in x.items()}
    return x


def _pair(x: Any) -> tuple[float, float] | None:
    return None if x is None else (x[0], x[1])


@dataclass(frozen=True)
class Measurement:
    """A measured value with its 95% CI and n. `chance` with `baseline` (or `baseline_ci`, the
    baseline's own CI) turns on the signal test: the baseline's pessimistic end must beat chance
    in the rule's direction. `no_signal`: a reason found upstream (e.g. by `retention`)."""

    name: str
    value: float | None
    ci: tuple[float, float] | None = None
    n: int | None = None
    chance: float | None = None
    baseline: float | None = None
    baseline_ci: tuple[float, float] | None = None
    no_signal: str | None = None

    def signal_problem(self, rule: Rule, fmt: str = ".4g") -> str | None:
        """Why this measurement has no signal under `rule`, or None when it has (or is untested)."""
        if self.no_signal:
            return self.no_signal
        if self.chance is None or rule.kind == "range":
            return None
        up = rule.higher_is_better
        b = self.baseline if self.baseline_ci is None else self.baseline_ci[0 if up else 1]
        b = measured(b)
        if b is None or (b > self.chance if up else b < self.chance):
            return None
        end = "" if self.baseline_ci is None else (" (CI low)" if up else " (CI high)")
        side = "above" if up else "below"
        return f"baseline {b:{fmt}}{end} is not {side} chance {self.chance:{fmt}}"


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict; `decided_on` is the number the rule compared (None unless decided)."""

    name: str
    verdict: CheckVerdict
    value: float | None
    ci: tuple[float, float] | None
    n: int | None
    rule: Rule
    decided_on: float | None
    message: str
    reason: str | None = None

    @property
    def failed(self) -> bool:
        return self.verdict in FAILING

    def to_json(self) -> dict[str, Any]:
        return _safe({**asdict(self), "rule": self.rule.to_json()})

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CheckResult:
        return cls(**{**d, "ci": _pair(d["ci"]), "rule": Rule(**d["rule"])})


@dataclass(frozen=True)
class Check:
    """A measurement and its rule. `label` names it in messages (default: the name), `note` says
    where the limit comes from, `fmt` formats numbers (".3f", ".1%", ",.0f")."""

    measurement: Measurement
    rule: Rule
    label: str | None = None
    note: str | None = None
    fmt: str = ".4g"

    def evaluate(self) -> CheckResult:
        m, r, f = self.measurement, self.rule, self.fmt
        value, decided, reason = measured(m.value), None, m.signal_problem(r, f)
        if reason is not None:
            verdict: CheckVerdict = "no signal"
        elif value is None:
            verdict, reason = "missing", f"not measured: {m.value!r}"
        else:
            decided = r.decided_on(value, m.ci)
            if decided is None:
                verdict, reason = "missing", "no CI, which the rule decides on"
            else:
                verdict = "pass" if r.passes(decided) else "fail"
        msg = self._message(verdict, value, reason)
        ci = None if m.ci is None else (float(m.ci[0]), float(m.ci[1]))
        return CheckResult(m.name, verdict, value, ci, m.n, r, decided, msg, reason)

    def _message(self, verdict: str, value: float | None, reason: str | None) -> str:
        m, f = self.measurement, self.fmt
        label = self.label or m.name
        if verdict == "no signal":
            return f"{label}: no signal ({reason}); gates nothing"
        need = f"need {self.rule.describe(f)}" + (f" ({self.note})" if self.note else "")
        if verdict == "missing":
            return f"{label}: missing ({reason}), {need} -> counts as a fail"
        text = f"{label} {value:{f}}"
        if m.ci is not None:
            text += f" [{m.ci[0]:{f}}, {m.ci[1]:{f}}]"
        if m.n is not None:
            text += f" (n={m.n})"
        return f"{text}: {need} -> {verdict}"


def check(
    name: str,
    value: float | None,
    rule: Rule,
    *,
    ci: tuple[float, float] | None = None,
    n: int | None = None,
    chance: float | None = None,
    baseline: float | None = None,
    baseline_ci: tuple[float, float] | None = None,
    no_signal: str | None = None,
    label: str | None = None,
    note: str | None = None,
    fmt: str = ".4g",
) -> Check:
    """Shorthand for Check(Measurement(...), rule, label, note, fmt)."""
    if ci is not None and not (len(ci) == 2 and ci[0] <= ci[1]):
        raise UserInputError(f"check {name!r}: CI {ci!r} is not a (low, high) pair")
    m = Measurement(name, value, _pair(ci), n, chance, baseline, _pair(baseline_ci), no_signal)
    return Check(m, rule, label, note, fmt)


# ---- gates and ladders ---------------------------------------------------------------------------
def overall(results: Sequence[CheckResult]) -> tuple[GateVerdict, str | None]:
    """(verdict, reason): "fail" if any check fails or is missing; else "no signal" if none has
    signal (not a pass: the gate cannot decide); else "pass"."""
    failed = [r.name for r in results if r.failed]
    if failed:
        return "fail", "failed: " + ", ".join(failed)
    if all(r.verdict == "no signal" for r in results):
        return "no signal", "no check has signal (every baseline is at chance): cannot decide"
    return "pass", None


@dataclass(frozen=True)
class GateResult:
    """A gate's outcome. `passed` only for verdict "pass"; `error()` lists the failed checks."""

    name: str
    verdict: GateVerdict
    checks: tuple[CheckResult, ...]
    reason: str | None = None

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.failed)

    def error(self) -> str | None:
        """None when passed; else the failed checks' messages (or why it cannot decide)."""
        if self.passed:
            return None
        return "; ".join(c.message for c in self.failures) or f"{self.name}: {self.reason}"

    def summary(self) -> str:
        head = f"gate {self.name}: {self.verdict}" + (f" ({self.reason})" if self.reason else "")
        return "\n".join([head] + [f"  {c.message}" for c in self.checks])

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "gate",
            "name": self.name,
            "verdict": self.verdict,
            "passed": self.passed,
            "reason": self.reason,
            "checks": [c.to_json() for c in self.checks],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> GateResult:
        checks = tuple(CheckResult.from_json(c) for c in d["checks"])
        return cls(d["name"], d["verdict"], checks, d.get("reason"))


def gate(name: str, checks: Sequence[Check], *, allow_empty: bool = False) -> GateResult:
    """Evaluate every check. No checks raise, unless `allow_empty` (every check was configured
    off): then the gate passes, saying so."""
    if not checks:
        if not allow_empty:
            raise UserInputError(f"gate {name!r}: no checks to evaluate")
        return GateResult(name, "pass", (), "no checks configured")
    results = tuple(c.evaluate() for c in checks)
    verdict, reason = overall(results)
    return GateResult(name, verdict, results, reason)


Checks = Sequence[Check] | Callable[[], Sequence[Check]]


@dataclass(frozen=True)
class Option:
    """One rung of a ladder. `checks` may be a callable, measured only when the rung is reached;
    None makes an unconditional last resort (e.g. "hand on the input unchanged")."""

    name: str
    checks: Checks | None = None
    allow_empty: bool = False


@dataclass(frozen=True)
class LadderResult:
    """Which option was chosen (None: none passed) and the gates of the options tried, in order.
    `fallback` is True when the chosen option is not the first: report it as a fallback."""

    name: str
    options: tuple[str, ...]
    tried: tuple[GateResult, ...]
    chosen: str | None

    @property
    def passed(self) -> bool:
        return self.chosen is not None

    @property
    def fallback(self) -> bool:
        return self.passed and self.chosen != self.options[0]

    @property
    def primary(self) -> GateResult:
        return self.tried[0]

    @property
    def verdict(self) -> GateVerdict:
        if self.passed:
            return "pass"
        return "no signal" if all(g.verdict == "no signal" for g in self.tried) else "fail"

    def error(self) -> str | None:
        """None when an option passed; else every option's error, named."""
        if self.passed:
            return None
        return "; ".join(f"{g.name}: {g.error()}" for g in self.tried)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "ladder",
            "name": self.name,
            "verdict": self.verdict,
            "passed": self.passed,
            "chosen": self.chosen,
            "fallback": self.fallback,
            "options": list(self.options),
            "tried": [g.to_json() for g in self.tried],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LadderResult:
        tried = tuple(GateResult.from_json(g) for g in d["tried"])
        return cls(d["name"], tuple(d["options"]), tried, d["chosen"])


def ladder(name: str, options: Sequence[Option]) -> LadderResult:
    """Try `options` in order; the first whose gate passes is chosen, later ones are not
    evaluated. None passing: chosen is None (the ladder fails)."""
    names = tuple(o.name for o in options)
    if not names or len(set(names)) != len(names):
        raise UserInputError(f"ladder {name!r}: needs options with distinct names, got {names}")
    tried = []
    for o in options:
        if o.checks is None:
            tried.append(GateResult(o.name, "pass", (), "unconditional fallback"))
        else:
            checks = o.checks() if callable(o.checks) else o.checks
            tried.append(gate(o.name, checks, allow_empty=o.allow_empty))
        if tried[-1].passed:
            return LadderResult(name, names, tuple(tried), o.name)
    return LadderResult(name, names, tuple(tried), None)


def from_json(d: dict[str, Any]) -> GateResult | LadderResult:
    """A gate or ladder result from its `to_json()`."""
    return LadderResult.from_json(d) if d.get("kind") == "ladder" else GateResult.from_json(d)
