"""Retention of sessions and their folders (spec: completed 30 days, failed 7, at most 100
sessions).

`plan_cleanup` only reads and returns what it would delete, each entry with its reason;
`apply_cleanup` deletes exactly what a plan lists. A running session is never touched.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent_forge.config.schema import RegistryConfig
from agent_forge.core.checkpoints import MANIFEST_FILE
from agent_forge.core.home import Home
from agent_forge.core.registry import ModelRegistry
from agent_forge.core.storage import METADATA_FILE, WEIGHT_SUFFIX
from agent_forge.errors import NotFoundError

log = logging.getLogger(__name__)

ORPHAN_MIN_AGE_S = 3600.0  # younger unregistered folders may belong to a phase still writing
_DAY_S = 86400.0


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _entry(kind: str, session_id: str, path: Path, reason: str) -> dict[str, Any]:
    return {"session_id": session_id, "reason": reason, "path": str(path), "kind": kind}


def _age_s(path: Path, now: datetime) -> float:
    """Seconds since the folder or any entry directly inside it last changed."""
    mtimes = [path.stat().st_mtime] + [p.stat().st_mtime for p in path.iterdir()]
    return now.timestamp() - max(mtimes)


def _expired(
    sessions: Iterable[dict[str, Any]], home: Home, policy: RegistryConfig, now: datetime
) -> list[dict[str, Any]]:
    """Ended sessions past their retention. `incomplete` (resumable) ones keep as long as
    completed ones; age counts from when the session ended (else its last update)."""
    limits = {
        "completed": ("keep_completed_days", policy.keep_completed_days),
        "incomplete": ("keep_completed_days", policy.keep_completed_days),
        "failed": ("keep_failed_days", policy.keep_failed_days),
    }
    out = []
    for s in sessions:
        if s["status"] not in limits:
            continue
        ref = datetime.fromisoformat(s["ended_at"] or s["updated_at"] or s["created_at"])
        age_days = (now - _utc(ref)).total_seconds() / _DAY_S
        key, days = limits[s["status"]]
        if age_days > days:
            reason = f"{s['status']} {age_days:.1f} days ago ({key}={days})"
            out.append(
                _entry("session", s["session_id"], home.session_dir(s["session_id"]), reason)
            )
    return out


def _over_limit(
    sessions: list[dict[str, Any]], doomed: set[str], home: Home, max_sessions: int
) -> list[dict[str, Any]]:
    """The oldest non-running sessions beyond `max_sessions` of those that survive by age."""
    remaining = [s for s in sessions if s["session_id"] not in doomed]
    excess = len(remaining) - max_sessions
    if excess <= 0:
        return []
    oldest = sorted(
        (s for s in remaining if s["status"] != "running"), key=lambda s: s["created_at"]
    )
    reason = f"over max_sessions={max_sessions} ({len(remaining)} sessions)"
    return [
        _entry("session", s["session_id"], home.session_dir(s["session_id"]), reason)
        for s in oldest[:excess]
    ]


def _orphan_sessions(home: Home, known: set[str], now: datetime) -> list[dict[str, Any]]:
    if not home.sessions_dir.is_dir():
        return []
    out = []
    for d in sorted(home.sessions_dir.iterdir()):
        if d.is_dir() and d.name not in known and _age_s(d, now) > ORPHAN_MIN_AGE_S:
            reason = "orphaned session folder: no registry row"
            out.append(_entry("orphan_session", d.name, d, reason))
    return out


def _is_model_folder(d: Path) -> bool:
    """A model folder or a save's temp folder; checkpoint folders (with a manifest) are not."""
    if d.name.startswith(".step_") or (d / MANIFEST_FILE).is_file():
        return False
    if d.name.startswith(".") and ".tmp-" in d.name:
        return True
    return (d / METADATA_FILE).is_file() or any(d.glob(f"*{WEIGHT_SUFFIX}"))


def _orphan_models(
    registry: ModelRegistry, home: Home, session_ids: Iterable[str], now: datetime
) -> list[dict[str, Any]]:
    """Model folders at <session>/<phase>/<folder> that no registry row points to."""
    out = []
    for sid in session_ids:
        sdir = home.session_dir(sid)
        if not sdir.is_dir():
            continue
        models = registry.list_models(session_id=sid)
        registered = {Path(m["path"]).resolve() for m in models}
        ids = {m["model_id"] for m in models}
        for phase_dir in sorted(p for p in sdir.iterdir() if p.is_dir()):
            for d in sorted(p for p in phase_dir.iterdir() if p.is_dir()):
                if d.resolve() in registered or d.name in ids or not _is_model_folder(d):
                    continue
                if _age_s(d, now) > ORPHAN_MIN_AGE_S:
                    reason = "unregistered model folder older than 1 hour (left by a killed phase)"
                    out.append(_entry("orphan_model", sid, d, reason))
    return out


def plan_cleanup(
    registry: ModelRegistry, home: Home, policy: RegistryConfig, now: datetime | None = None
) -> list[dict[str, Any]]:
    """What the retention policy would delete: [{session_id, reason, path, kind}], deleting
    nothing. kind: `session` (folder and rows), `orphan_session` or `orphan_model` (folder)."""
    now = _utc(now or datetime.now(UTC))
    sessions = registry.list_sessions()
    plan = _expired(sessions, home, policy, now)
    plan += _over_limit(sessions, {p["session_id"] for p in plan}, home, policy.max_sessions)
    doomed = {p["session_id"] for p in plan}
    plan += _orphan_sessions(home, {s["session_id"] for s in sessions}, now)
    kept = [
        s["session_id"]
        for s in sessions
        if s["status"] != "running" and s["session_id"] not in doomed
    ]
    plan += _orphan_models(registry, home, kept, now)
    return plan


def apply_cleanup(registry: ModelRegistry, plan: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Delete each planned folder, and for `session` entries the session's registry rows."""
    done = []
    for entry in plan:
        path = Path(entry["path"])
        if path.is_symlink():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
        if entry.get("kind", "session") == "session":
            try:
                registry.delete_session(entry["session_id"])
            except NotFoundError:
                pass  # rows already gone: the folder was all that was left
        log.info("removed %s: %s", path, entry["reason"])
        done.append(entry)
    return done
