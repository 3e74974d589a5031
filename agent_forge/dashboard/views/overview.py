"""Pipeline Overview: a session's progress over the 8 phases, a card per phase with its key
metric, and the latest logged metrics, refreshed by a fragment every few seconds."""

from __future__ import annotations

import streamlit as st

from agent_forge.core.home import Home
from agent_forge.core.phase_names import PHASE_SEQUENCE
from agent_forge.dashboard import data
from agent_forge.dashboard.ui import current_home, empty_state, pick_session
from agent_forge.errors import NotFoundError

REFRESH_S = 3
_ICON = {  # Streamlit's bundled Material icons (no emoji font needed)
    "completed": ":material/check_circle:",
    "running": ":material/hourglass_top:",
    "failed": ":material/error:",
    "interrupted": ":material/warning:",
    "not built": ":material/construction:",
    "skipped": ":material/skip_next:",
}


def _card(p: dict) -> None:
    with st.container(border=True):
        st.markdown(f"**{p['phase_name']}** {_ICON.get(p['status'], '')}")
        st.caption(p["status"] + (" (fallback)" if p["fallback"] else ""))
        km = p["key_metric"]
        if km and isinstance(km.get("value"), int | float):
            st.metric(km["key"], f"{km['value']:.4g}")
        elif km:
            st.metric(km["key"], str(km["value"]))
        if p["duration_seconds"] is not None:
            st.caption(f"took {data.fmt_duration(p['duration_seconds'])}")
        if p["error"]:
            st.error(p["error"][:300])


@st.fragment(run_every=REFRESH_S)
def live_view(home: Home, session_id: str) -> None:
    """Re-read the registry on each tick: a run in progress shows up as it goes."""
    with data.open_registry(home) as registry:
        if registry is None:
            empty_state(home)
            return
        try:
            session = registry.get_session(session_id)
        except NotFoundError:  # removed by `agent-forge clean` while shown
            st.warning(f"Session {session_id} is no longer in the registry.")
            return
        info = data.session_overview(home, registry, session)
        rows = registry.latest_metrics(session_id, limit=12)
    cols = st.columns(4)
    cols[0].metric("Status", info["status"])
    cols[1].metric("Profile", info["profile"])
    cols[2].metric("Elapsed", data.fmt_duration(info["elapsed_seconds"]))
    cols[3].metric("Phases completed", f"{info['completed_phases']} / {len(PHASE_SEQUENCE)}")
    st.progress(
        info["completed_phases"] / len(PHASE_SEQUENCE),
        text=" → ".join(f"{p['phase_name']}: {p['status']}" for p in info["phases"]),
    )
    if info.get("error"):
        st.error(f"Session error: {info['error']}")
    for row_start in (0, 4):
        cols = st.columns(4)
        for col, p in zip(cols, info["phases"][row_start : row_start + 4], strict=True):
            with col:
                _card(p)
    st.subheader("Live metrics")
    latest = data.latest_values(rows)
    if latest:  # one text column: values may be numbers, bools or text
        shown = [
            r | {"value": f"{r['value']:.6g}" if data.is_number(r["value"]) else str(r["value"])}
            for r in latest
        ]
        st.dataframe(shown, hide_index=True)
    else:
        st.caption("No metrics logged yet in this session.")
    st.caption(f"Refreshes every {REFRESH_S} s.")


def main() -> None:
    st.title("Pipeline Overview")
    home = current_home()
    session = pick_session(home, key="overview_session")
    if session is None:
        return
    st.caption(f"Session {session['session_id']}, started {session['created_at'][:19]} UTC")
    live_view(home, session["session_id"])


main()
