"""Per-step training curves from a run's reported history: the spec's smoothed and per-epoch
losses, computed after the fact so a resumed run's curve is one curve."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

NOT_CURVES = {"step", "steps", "time", "stage", "signal", "signals"}  # not numbers to plot


def steps_of(history: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every step's metrics once, in step order, from reports that batch steps under "steps"
    (a step reported twice, before and after a resume, keeps its last value)."""
    by_step = {m["step"]: m for report in history for m in report.get("steps", [report])}
    return [by_step[s] for s in sorted(by_step)]


def loss_curves(
    history: Iterable[dict[str, Any]], steps_per_epoch: int, window: int = 100
) -> list[tuple[int, dict[str, float]]]:
    """(step, metrics) per step: the loop's own metrics, `train/loss_avg_100` (the mean of the
    last `window` train losses) and, at the end of each pass over the data, `epoch/loss` (the
    mean train loss of that pass's steps)."""
    recent: deque[float] = deque(maxlen=window)
    epoch: list[float] = []
    out = []
    for m in steps_of(history):
        values = {k: v for k, v in m.items() if k not in NOT_CURVES}
        recent.append(m["train/loss"])
        epoch.append(m["train/loss"])
        values[f"train/loss_avg_{window}"] = sum(recent) / len(recent)
        if len(epoch) == max(1, steps_per_epoch):
            values["epoch/loss"] = sum(epoch) / len(epoch)
            epoch = []
        out.append((m["step"], values))
    return out
