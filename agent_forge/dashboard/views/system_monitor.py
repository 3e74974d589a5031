"""System Monitor: CPU, RAM and (where NVML sees them) GPU utilisation, VRAM and temperature
now, a 5-minute history from one process-wide ResourceMonitor, and a link to Ray's dashboard.
Never starts Ray."""

from __future__ import annotations

from typing import Any

import streamlit as st

from agent_forge.dashboard import data, plots
from agent_forge.dashboard.ui import app_args, current_home, empty_state, has_sessions

INTERVAL_S = 2.0
HISTORY = 150  # 150 samples x 2 s = 5 minutes


@st.cache_resource
def _monitor() -> Any:
    """One sampler thread per dashboard process, shared by every browser tab."""
    from agent_forge.core.compute import ResourceMonitor  # imports torch: only on this page

    monitor = ResourceMonitor(interval_seconds=INTERVAL_S, history_size=HISTORY)
    monitor.start()
    return monitor


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f} %"


def _gpus() -> None:
    from agent_forge.core.compute import nvml_gpus, nvml_status

    gpus = nvml_gpus()
    if not gpus:
        ok, why = nvml_status()
        st.info("no GPU visible to NVML" + ("" if ok else f" ({why})"))
        return
    for g in gpus:
        cols = st.columns(4)
        cols[0].metric(f"GPU {g['index']}", g["name"] or "?")
        cols[1].metric("Utilisation", _pct(g["utilization_percent"]))
        used, total = g["memory_used_gb"], g["memory_total_gb"]
        cols[2].metric("VRAM", "-" if used is None else f"{used:.1f} / {total:.1f} GB")
        temp = g["temperature_c"]
        cols[3].metric("Temperature", "-" if temp is None else f"{temp:.0f} °C")


@st.fragment(run_every=INTERVAL_S)
def live() -> None:
    from agent_forge.core.metrics import SYSTEM_CPU_PERCENT, SYSTEM_RAM_PERCENT, SYSTEM_RAM_USED_GB

    monitor = _monitor()
    now = monitor.get_current_metrics()
    cols = st.columns(3)
    cols[0].metric("CPU", _pct(now.get(SYSTEM_CPU_PERCENT)))
    cols[1].metric("RAM", _pct(now.get(SYSTEM_RAM_PERCENT)))
    cols[2].metric("RAM used", f"{now.get(SYSTEM_RAM_USED_GB, 0):.1f} GB")
    _gpus()
    fig = plots.resource_history_figure(monitor.history)
    if fig is None:
        st.caption(f"History: the first sample comes after {INTERVAL_S:.0f} s.")
    else:
        st.plotly_chart(fig, key="history")


def main() -> None:
    st.title("System Monitor")
    home = current_home()
    if not has_sessions(home):
        empty_state(home)  # this machine is still shown: it does not depend on the home
    url = data.ray_dashboard_url(app_args().ray_dashboard)
    if url:
        st.markdown(f"Ray dashboard: [{url}]({url})")
    else:
        st.caption("Ray dashboard: not running")
    live()


main()
