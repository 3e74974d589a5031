"""Compare the metrics of two sessions value by value: the equivalence check of a refactor.

Run the same profile and seeds before and after a change (two homes), then:

    python benchmarks/compare_sessions.py BEFORE_HOME AFTER_HOME [--json out.json]

Every logged series (phase, key) is compared value for value (relative tolerance 1e-9); timing,
throughput and resource series differ run to run and are left out. Prints the series that differ
or exist on one side only, a summary table, and writes it all as JSON.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
from pathlib import Path
from typing import Any

TIMING = (
    "system/",
    "seconds",
    "time",
    "ms_per",
    "tokens_per_second",
    "throughput",
    "latency",
    "_ms",
    "duration",
    "wall",
    "memory",
    "rss",
    "speedup",
)


def series(home: Path) -> dict[tuple[str, str], list[Any]]:
    """(phase, key) -> values in logged order, of the home's newest session."""
    files = sorted(home.glob("sessions/*/metrics.jsonl"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise SystemExit(f"{home}: no sessions/*/metrics.jsonl")
    out: dict[tuple[str, str], list[Any]] = collections.defaultdict(list)
    for line in files[-1].read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if not any(t in row["key"] for t in TIMING):
            out[(row["phase"], row["key"])].append(row["value"])
    return out


def _equal(a: list[Any], b: list[Any]) -> bool:
    def same(x: Any, y: Any) -> bool:
        if isinstance(x, float) and isinstance(y, float):
            return x == y or math.isclose(x, y, rel_tol=1e-9) or (math.isnan(x) and math.isnan(y))
        return x == y

    return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))


def compare(before: Path, after: Path) -> dict[str, Any]:
    a, b = series(before), series(after)
    rows = []
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            rows.append({"series": key, "status": "before only" if key in a else "after only"})
        elif not _equal(a[key], b[key]):
            rows.append(
                {
                    "series": key,
                    "status": "differs",
                    "before": a[key][:3],
                    "after": b[key][:3],
                    "n": [len(a[key]), len(b[key])],
                }
            )
    counts = collections.Counter(r["status"] for r in rows)
    equal = len(set(a) & set(b)) - counts["differs"]
    return {"equal_series": equal, "counts": dict(counts), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--json", type=Path, default=Path("compare_sessions.json"))
    args = ap.parse_args()
    result = compare(args.before, args.after)
    for r in result["rows"]:
        phase, key = r["series"]
        extra = f"  {r['before']} -> {r['after']}" if r["status"] == "differs" else ""
        print(f"{r['status']:<12} {phase}/{key}{extra}")
    print("\n| equal series | differ | before only | after only |\n|---|---|---|---|")
    c = result["counts"]
    print(
        f"| {result['equal_series']} | {c.get('differs', 0)} | {c.get('before only', 0)} "
        f"| {c.get('after only', 0)} |"
    )
    args.json.write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
