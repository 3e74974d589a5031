"""`sessions/<id>/session.json`: the session's plan, inputs, config and the process running it.

The registry holds status; this file holds what `run --resume` needs to rebuild the run exactly.
"""

from __future__ import annotations

import json
from typing import Any

from agent_forge.core.home import Home
from agent_forge.core.storage import atomic_write_json
from agent_forge.errors import IntegrityError, NotFoundError


def write_session_file(home: Home, session_id: str, record: dict[str, Any]) -> None:
    path = home.session_dir(session_id) / "session.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, record)


def read_session_file(home: Home, session_id: str) -> dict[str, Any]:
    path = home.session_dir(session_id) / "session.json"
    if not path.is_file():
        raise NotFoundError(f"session {session_id} has no {path}")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise IntegrityError(str(path), f"not valid JSON: {exc}") from None
    if not isinstance(record, dict) or "plan" not in record:
        raise IntegrityError(str(path), "missing 'plan'")
    return record


def process_alive(record: dict[str, Any]) -> bool | None:
    """Whether the process that last ran the session is alive (None if unknown/other host)."""
    import os
    import socket

    proc = record.get("process") or {}
    if not proc or proc.get("host") != socket.gethostname():
        return None
    try:
        os.kill(int(proc["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
