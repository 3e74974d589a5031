"""A session's state as `agent-forge status` and the dashboard show it: its phases in pipeline
order (built or not, planned or not), and `interrupted` when it says running but its process is
gone. Reads the registry and `session.json`; writes nothing."""

from __future__ import annotations

from typing import Any

from agent_forge.core.home import Home
from agent_forge.core.phase_names import PHASE_SEQUENCE
from agent_forge.core.registry import ModelRegistry
from agent_forge.core.session_file import process_alive, read_session_file
from agent_forge.errors import NotFoundError


def built_phases() -> list[str]:
    """The phases in the pipeline's phase table (what `agent-forge phases` calls built)."""
    from agent_forge import phases

    return phases.PHASES.names()


def session_status(home: Home, registry: ModelRegistry, session: dict[str, Any]) -> dict[str, Any]:
    """The session row, its phases in pipeline order, and whether its process is still alive."""
    sid = session["session_id"]
    rows = {p["phase_name"]: p for p in registry.get_phases(sid)}
    try:
        record = read_session_file(home, sid)
    except NotFoundError:
        record = {"plan": []}
    built = built_phases()
    phases = []
    for name in PHASE_SEQUENCE:
        row = rows.get(name) or {}
        status = row.get("status") or (
            "not built"
            if name not in built
            else ("pending" if name in record.get("plan", []) else "not in plan")
        )
        phases.append(
            {
                "phase_name": name,
                "status": status,
                "built": name in built,
                "duration_seconds": row.get("duration_seconds"),
                "attempts": row.get("attempts", 0),
                "error": row.get("error"),
                "key_metric": row.get("key_metric"),
                # the gate failed and the configured fallback was handed on (PhaseResult)
                "fallback": (row.get("result") or {}).get("fallback"),
                "started_at": row.get("started_at"),
            }
        )
    state = session["status"]
    alive = process_alive(record)
    if state == "running" and alive is False:
        state = "interrupted"
        for p in phases:
            if p["status"] == "running":
                p["status"] = "interrupted"
    return {**session, "status": state, "plan": record.get("plan", []), "phases": phases}
