"""Rules of a check (`agent_forge.eval.checks`): a range, a limit, superiority or non-inferiority
to a reference decided on the 95% CI, each with its direction and a human description."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from agent_forge.errors import UserInputError

RuleKind = Literal["range", "limit", "superiority", "non_inferiority"]
DecideOn = Literal["point", "bound"]
RULE_KINDS = ("range", "limit", "superiority", "non_inferiority")


def finite(x: Any, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        raise UserInputError(f"{what} must be a finite number, got {x!r}")
    return float(x)


def measured(x: Any) -> float | None:
    """`x` as a float, or None where nothing usable was measured (None, NaN, inf)."""
    if x is None or isinstance(x, bool):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Rule:
    """What a measurement must meet. Build with `in_range`, `limit`, `superiority` or
    `non_inferiority`; `lo` / `hi` are the range ends or the limit's min / max."""

    kind: RuleKind
    lo: float | None = None
    hi: float | None = None
    reference: float | None = None
    margin: float = 0.0
    higher_is_better: bool = True
    inclusive: bool = True
    on: DecideOn = "point"

    def __post_init__(self) -> None:
        if self.kind not in RULE_KINDS:
            raise UserInputError(f"rule kind {self.kind!r} is not one of {RULE_KINDS}")
        if self.on not in ("point", "bound"):
            raise UserInputError(f"rule on={self.on!r}: use 'point' or 'bound' (the CI's end)")
        if self.kind == "range":
            lo, hi = finite(self.lo, "range lo"), finite(self.hi, "range hi")
            if lo > hi or self.on != "point":
                raise UserInputError(f"range({lo}, {hi}, on={self.on!r}): need lo <= hi, on point")
        elif self.kind == "limit":
            if (self.lo is None) == (self.hi is None):
                raise UserInputError("limit needs exactly one of min= and max=")
            finite(self.lo if self.hi is None else self.hi, "limit")
            if self.higher_is_better != (self.lo is not None):
                raise UserInputError("limit(min=) is higher-is-better, limit(max=) lower")
        else:
            finite(self.reference, f"{self.kind} reference")
            if finite(self.margin, f"{self.kind} margin") < 0 or self.on != "bound":
                raise UserInputError(f"{self.kind}: margin {self.margin} must be >= 0, on bound")

    @property
    def threshold(self) -> float | None:
        """The number a decided value is compared with (None for a range: two ends)."""
        sign = 1.0 if self.higher_is_better else -1.0
        if self.kind == "limit":
            return self.lo if self.lo is not None else self.hi
        if self.kind == "superiority":
            return self.reference + sign * self.margin
        if self.kind == "non_inferiority":
            return self.reference - sign * self.margin
        return None

    def decided_on(self, value: float, ci: tuple[float, float] | None) -> float | None:
        """The number the rule compares: the point, or the CI's pessimistic end (None if no CI)."""
        if self.on == "point":
            return value
        if ci is None or measured(ci[0 if self.higher_is_better else 1]) is None:
            return None
        return float(ci[0] if self.higher_is_better else ci[1])

    def passes(self, x: float) -> bool:
        if self.kind == "range":
            return self.lo <= x <= self.hi if self.inclusive else self.lo < x < self.hi
        t = self.threshold
        strict = self.kind == "superiority" or (self.kind == "limit" and not self.inclusive)
        if self.higher_is_better:
            return x > t if strict else x >= t
        return x < t if strict else x <= t

    def describe(self, fmt: str = ".4g") -> str:
        """e.g. '>= 0.5', 'in [22500000, 27500000]', 'CI low > 0.3 (superiority: ...)'."""
        if self.kind == "range":
            a, b = ("[", "]") if self.inclusive else ("(", ")")
            return f"in {a}{self.lo:{fmt}}, {self.hi:{fmt}}{b}"
        up = self.higher_is_better
        closed = self.kind == "non_inferiority" or (self.kind == "limit" and self.inclusive)
        op = (">" if up else "<") + ("=" if closed else "")
        side = "" if self.on == "point" else ("CI low " if up else "CI high ")
        text = f"{side}{op} {self.threshold:{fmt}}"
        if self.kind != "limit":
            pm = "+" if (self.kind == "superiority") == up else "-"
            margin = f" {pm} margin {self.margin:{fmt}}" if self.margin else ""
            name = self.kind.replace("_", "-")
            text += f" ({name} to reference {self.reference:{fmt}}{margin})"
        return text

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def in_range(lo: float, hi: float, *, inclusive: bool = True) -> Rule:
    """lo <= value <= hi (strict ends with inclusive=False), on the point estimate."""
    return Rule("range", lo=lo, hi=hi, inclusive=inclusive)


def limit(
    *,
    min: float | None = None,
    max: float | None = None,
    inclusive: bool = True,
    on: DecideOn = "point",
) -> Rule:
    """value >= min (higher is better) or value <= max (lower is better); strict with
    inclusive=False; on="bound" compares the CI's pessimistic end instead of the point."""
    return Rule(
        "limit", lo=min, hi=max, higher_is_better=min is not None, inclusive=inclusive, on=on
    )


def superiority(reference: float, margin: float = 0.0, *, higher_is_better: bool = True) -> Rule:
    """Better than `reference` by more than `margin`, decided on the CI: its lower end above
    reference + margin (higher is better), or its upper end below reference - margin. For a
    difference to the reference (cand - ref, paired CI) pass reference=0."""
    return Rule(
        "superiority",
        reference=reference,
        margin=margin,
        higher_is_better=higher_is_better,
        on="bound",
    )


def non_inferiority(reference: float, margin: float, *, higher_is_better: bool = True) -> Rule:
    """Not worse than `reference` by more than `margin`, decided on the CI: its lower end at
    least reference - margin (higher is better), or its upper end at most reference + margin."""
    return Rule(
        "non_inferiority",
        reference=reference,
        margin=margin,
        higher_is_better=higher_is_better,
        on="bound",
    )
