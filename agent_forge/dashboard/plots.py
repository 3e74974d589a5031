"""Plotly figures of the dashboard, built from metric rows ({phase, key, step, value, ts}).

Each function returns a figure, or None when the rows hold nothing to draw, so a page can say
"not logged" instead of showing an empty chart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go

from agent_forge.core.metrics import (
    SYSTEM_CPU_PERCENT,
    SYSTEM_GPU_TEMPERATURE,
    SYSTEM_GPU_UTILIZATION,
    SYSTEM_RAM_PERCENT,
    SYSTEM_VRAM_PERCENT,
)
from agent_forge.dashboard.data import Series, group_series

Rows = list[dict[str, Any]]


def line_figure(
    series: Series, title: str, x_title: str = "step", y_title: str = "value", dashed: tuple = ()
) -> go.Figure | None:
    """One line per series (name -> [(x, y)]); names in `dashed` are drawn dashed."""
    if not any(series.values()):
        return None
    fig = go.Figure()
    for name, points in series.items():
        if not points:
            continue
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in points],
                y=[p[1] for p in points],
                mode="lines+markers" if len(points) < 30 else "lines",
                name=name,
                line={"dash": "dash"} if name in dashed else None,
            )
        )
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, height=380)
    return fig


def _pick(series: Series, names: list[str]) -> Series:
    return {n: series[n] for n in names if n in series}


def cognate_loss_figure(rows: Rows) -> go.Figure | None:
    """The three models' training loss per step, with their validation loss dashed if logged."""
    s = group_series(rows, "cognate")
    models = sorted({k.split("/")[0] for k in s if k.startswith("model_")})
    train = [f"{m}/train/loss" for m in models]
    val = [f"{m}/val/loss" for m in models]
    return line_figure(
        _pick(s, train + val), "Cognate: loss per model", y_title="loss (nats)", dashed=tuple(val)
    )


def evomerge_fitness_figure(rows: Rows) -> go.Figure | None:
    """Best, average and minimum fitness of each generation."""
    s = group_series(rows, "evomerge")
    names = {f"generation_*/{k}_fitness": k for k in ("best", "avg", "min")}
    picked = {label: s[name] for name, label in names.items() if name in s}
    return line_figure(picked, "EvoMerge: fitness per generation", "generation", "fitness")


def evomerge_diversity_figure(rows: Rows) -> go.Figure | None:
    s = group_series(rows, "evomerge")
    picked = _pick(s, ["generation_*/diversity_score"])
    return line_figure(picked, "EvoMerge: population diversity", "generation", "diversity")


def quietstar_figures(rows: Rows) -> list[go.Figure]:
    """Step-2 training (REINFORCE loss, NLL with and without thoughts, reward), the per-
    validation-step thought metrics, and the bake (step 3) loss."""
    s = group_series(rows, "quietstar")
    val_keys = [k for k in s if k.startswith("step_*/")]
    figs = [
        line_figure(
            _pick(s, ["train/loss", "train/nll_base", "train/nll_mixed"]),
            "Quiet-STaR: training loss and NLL",
            y_title="nats",
        ),
        line_figure(
            _pick(s, ["train/reward_mean", "train/nll_gain", "train/kl"]),
            "Quiet-STaR: reward, NLL gain, KL",
        ),
        line_figure(_pick(s, val_keys), "Quiet-STaR: thought quality per validation step"),
        line_figure(
            _pick(s, ["bake/train/loss", "bake/val/loss"]),
            "Quiet-STaR: bake loss",
            y_title="loss (nats)",
            dashed=("bake/val/loss",),
        ),
    ]
    return [f for f in figs if f is not None]


def bitnet_figures(rows: Rows) -> list[go.Figure]:
    """QAT training and validation loss, and the quantisation strength / learning rate."""
    s = group_series(rows, "bitnet")
    figs = [
        line_figure(
            _pick(s, ["qat/train_loss", "qat/val_loss"]),
            "BitNet QAT: loss",
            y_title="loss (nats)",
            dashed=("qat/val_loss",),
        ),
        line_figure(
            _pick(s, ["qat/strength", "qat/learning_rate"]),
            "BitNet QAT: quantisation strength and learning rate",
        ),
    ]
    return [f for f in figs if f is not None]


def phase_figures(phase: str, rows: Rows) -> list[go.Figure]:
    """The phase's own charts (empty for a phase without any)."""
    if phase == "cognate":
        figs = [cognate_loss_figure(rows)]
    elif phase == "evomerge":
        figs = [evomerge_fitness_figure(rows), evomerge_diversity_figure(rows)]
    elif phase == "quietstar":
        return quietstar_figures(rows)
    elif phase == "bitnet":
        return bitnet_figures(rows)
    else:
        figs = []
    return [f for f in figs if f is not None]


_HISTORY_KEYS = {
    SYSTEM_CPU_PERCENT: "CPU %",
    SYSTEM_RAM_PERCENT: "RAM %",
    SYSTEM_GPU_UTILIZATION: "GPU %",
    SYSTEM_VRAM_PERCENT: "VRAM %",
    SYSTEM_GPU_TEMPERATURE: "GPU °C",
}


def resource_history_figure(history: list[dict[str, Any]]) -> go.Figure | None:
    """ResourceMonitor samples (timestamp + system/* keys) as percent lines over time."""
    series: Series = {}
    for sample in history:
        for key, label in _HISTORY_KEYS.items():
            if sample.get(key) is not None:
                series.setdefault(label, []).append((sample["timestamp"], sample[key]))
    fig = line_figure(series, "Last 5 minutes", "time", "percent / °C")
    if fig is not None:
        for trace in fig.data:
            trace.x = [datetime.fromtimestamp(t, UTC) for t in trace.x]
    return fig
