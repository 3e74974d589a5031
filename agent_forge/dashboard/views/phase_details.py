"""Phase Details: one phase of one session: duration, status, attempts, error, key metrics,
the phase's own plots, and a chooser for any other series it logged."""

from __future__ import annotations

import streamlit as st

from agent_forge.core.phase_names import PHASE_SEQUENCE, PHASE_TITLES
from agent_forge.dashboard import data, plots
from agent_forge.dashboard.ui import current_home, empty_state, pick_session


def _summary(p: dict, scalars: dict) -> None:
    cols = st.columns(4)
    cols[0].metric("Status", p["status"])
    cols[1].metric("Duration", data.fmt_duration(p["duration_seconds"]))
    cols[2].metric("Attempts", p["attempts"])
    km = p["key_metric"]
    cols[3].metric(
        km["key"] if km else "Key metric",
        f"{km['value']:.4g}"
        if km and isinstance(km["value"], int | float)
        else str(km and km["value"]),
    )
    if p["error"]:
        st.error(f"Error: {p['error']}")
    if p["fallback"]:
        st.warning(f"Gate failed; handed on the fallback: {p['fallback']}")
    if scalars:
        with st.expander(f"Key metrics ({len(scalars)})", expanded=len(scalars) <= 12):
            st.dataframe([{"key": k, "value": str(v)} for k, v in scalars.items()], hide_index=True)


def _other_series(phase: str, series: data.Series) -> None:
    st.subheader("Any other series")
    if not series:
        st.caption("This phase logged no series.")
        return
    chosen = st.multiselect(
        "Series", list(series), key=f"series_{phase}", placeholder="Pick one or more series"
    )
    fig = plots.line_figure({k: series[k] for k in chosen}, ", ".join(chosen))
    if fig is not None:
        st.plotly_chart(fig, key=f"other_{phase}")


def main() -> None:
    st.title("Phase Details")
    home = current_home()
    session = pick_session(home, key="details_session")
    if session is None:
        return
    phase = st.selectbox(
        "Phase", PHASE_SEQUENCE, key="details_phase", format_func=lambda n: PHASE_TITLES[n]
    )
    with data.open_registry(home) as registry:
        if registry is None:  # the home was removed since the picker read it
            empty_state(home)
            return
        info = data.session_overview(home, registry, session)
        rows = registry.get_metrics(session["session_id"], phase=phase)
    p = next(x for x in info["phases"] if x["phase_name"] == phase)
    if not p["built"]:
        st.info(f"{phase} is not built yet: the pipeline stops before it.")
        return
    _summary(p, data.scalar_metrics(rows, phase))
    if not rows:
        st.info(f"{phase} logged no metrics in this session ({p['status']}).")
        return
    figs = plots.phase_figures(phase, rows)
    for i, fig in enumerate(figs):
        st.plotly_chart(fig, key=f"fig_{phase}_{i}")
    _other_series(phase, data.group_series(rows, phase))


main()
