"""What every page shares: the app's arguments, the home, the empty state, the session picker."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import streamlit as st

from agent_forge.core.home import Home
from agent_forge.dashboard.data import list_sessions, open_registry


def app_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The arguments after `--` of `streamlit run app.py -- --home H [--ray-dashboard URL]`
    (unknown ones are ignored, so the page also runs under a test runner's argv)."""
    parser = argparse.ArgumentParser(prog="agent-forge-dashboard", allow_abbrev=False)
    parser.add_argument("--home", default=None)
    parser.add_argument("--ray-dashboard", default=None)
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return args


def current_home() -> Home:
    """`--home`, else $AGENT_FORGE_HOME, else ./forge_home (nothing is created)."""
    return Home.resolve(app_args().home)


def has_sessions(home: Home) -> bool:
    with open_registry(home) as registry:
        return bool(list_sessions(registry))


def empty_state(home: Home) -> None:
    st.info(
        f"No sessions yet in {home.root}. Start one with `agent-forge run --home {home.root}`; "
        "this page fills in as the run logs its results."
    )


def session_picker(sessions: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """A selectbox of the sessions (newest first, so the latest is the default)."""
    by_id = {s["session_id"]: s for s in sessions}
    sid = st.selectbox(
        "Session",
        list(by_id),
        key=key,
        format_func=lambda i: f"{i[:8]}  {by_id[i]['created_at'][:19]}  ({by_id[i]['status']})",
    )
    return by_id[sid or next(iter(by_id))]


def pick_session(home: Home, key: str) -> dict[str, Any] | None:
    """The session picker over the home's sessions, or the empty state (None) when it has none."""
    with open_registry(home) as registry:
        sessions = list_sessions(registry)
    if not sessions:
        empty_state(home)
        return None
    return session_picker(sessions, key=key)
