"""Agent Forge dashboard: what `streamlit run` executes.

    python -m streamlit run agent_forge/dashboard/app.py --server.address 127.0.0.1 \
        --server.port 8501 --server.headless true -- --home HOME [--ray-dashboard URL]

Reads the home (registry, metrics, models) read-only; the only write is the Configuration
page's Save of <home>/config.yaml. See docs/dashboard.md.
"""

from __future__ import annotations

import streamlit as st

from agent_forge.dashboard.ui import current_home

st.set_page_config(page_title="Agent Forge", layout="wide")

PAGES = [
    # Streamlit serves the default page at "/" only, so the root gets its own hidden entry and
    # the menu's "Pipeline Overview" opens "/overview".
    st.Page(
        "views/overview.py",
        title="Pipeline Overview",
        url_path="root",
        default=True,
        visibility="hidden",
    ),
    st.Page("views/overview.py", title="Pipeline Overview", url_path="overview"),
    st.Page("views/phase_details.py", title="Phase Details", url_path="phase_details"),
    st.Page("views/model_browser.py", title="Model Browser", url_path="model_browser"),
    st.Page("views/system_monitor.py", title="System Monitor", url_path="system_monitor"),
    st.Page("views/configuration.py", title="Configuration", url_path="configuration"),
]

page = st.navigation(PAGES)
st.sidebar.caption("Home")
st.sidebar.code(str(current_home().root), language=None)
page.run()
