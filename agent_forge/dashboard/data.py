"""Plain data functions of the dashboard: read a home (read-only), shape its rows for pages.

No Streamlit here, so each function is tested directly. The registry is always opened with
`read_only=True` (SQLite `mode=ro`): nothing is created in the home.
"""

from __future__ import annotations

import io
import json
import math
import re
import sqlite3
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent_forge.core.home import Home
from agent_forge.core.registry import ModelRegistry
from agent_forge.errors import NotFoundError
from agent_forge.session_status import session_status

RAY_DASHBOARD_DEFAULT = "http://127.0.0.1:8265"
# generation_3/best_fitness, step_40/validity_rate: one value per generation / validation step,
# gathered into one series per suffix with the number as x.
_FAMILY = re.compile(r"^(generation|step)_(\d+)/(.+)$")

Series = dict[str, list[tuple[float, float]]]


@contextmanager
def open_registry(home: Home) -> Iterator[ModelRegistry | None]:
    """The home's registry opened read-only, or None when there is none (nothing is created)."""
    try:
        registry = ModelRegistry(home.registry_db, read_only=True)
    except NotFoundError:
        yield None
        return
    try:
        yield registry
    finally:
        registry.close()


def list_sessions(registry: ModelRegistry | None) -> list[dict[str, Any]]:
    """Sessions newest first; [] for no registry or one whose tables are not created yet."""
    if registry is None:
        return []
    try:
        return list(reversed(registry.list_sessions()))
    except sqlite3.OperationalError:  # an empty file another process is about to fill
        return []


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def elapsed_seconds(session: dict[str, Any], now: datetime | None = None) -> float | None:
    """Wall time of a session: until it ended, or until `now` while it runs."""
    start = _parse_time(session.get("created_at"))
    if start is None:
        return None
    end = _parse_time(session.get("ended_at"))
    if end is None:
        end = (
            (now or datetime.now(UTC))
            if session.get("status") == "running"
            else _parse_time(session.get("updated_at"))
        )
    return max(0.0, ((end or start) - start).total_seconds())


def session_overview(home: Home, registry: ModelRegistry, session: dict[str, Any]) -> dict:
    """`agent-forge status`'s view of the session (its 8 phases in pipeline order, `not built`,
    `interrupted`), plus the number of completed phases and the elapsed time."""
    info = session_status(home, registry, session)
    phases = info["phases"]
    done = sum(p["status"] == "completed" for p in phases)
    return {
        **{k: v for k, v in session.items() if k != "config"},
        "status": info["status"],
        "phases": phases,
        "completed_phases": done,
        "elapsed_seconds": elapsed_seconds(session),
    }


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h {m:02d}m {sec:02d}s" if h else (f"{m}m {sec:02d}s" if m else f"{sec}s")


def is_number(value: Any) -> bool:
    return _number(value) is not None


def _number(value: Any) -> float | None:
    """A finite float from a metric value (bools and text are not series values)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def group_series(rows: list[dict[str, Any]], phase: str | None = None) -> Series:
    """Metric rows -> {series name: [(x, y), ...] sorted by x}. A series is a key logged with a
    step and a finite number; `generation_N/K` and `step_N/K` become `generation_*/K` with x=N."""
    out: Series = {}
    for r in rows:
        if phase is not None and r["phase"] != phase:
            continue
        y = _number(r["value"])
        if y is None:
            continue
        m = _FAMILY.match(r["key"])
        if m:
            name, x = f"{m.group(1)}_*/{m.group(3)}", float(m.group(2))
        elif r["step"] is not None:
            name, x = r["key"], float(r["step"])
        else:
            continue
        out.setdefault(name, []).append((x, y))
    return {k: sorted(v) for k, v in sorted(out.items())}


def scalar_metrics(rows: list[dict[str, Any]], phase: str) -> dict[str, Any]:
    """The phase's metrics logged without a step (its summary), last value per key."""
    return {
        r["key"]: r["value"]
        for r in rows
        if r["phase"] == phase and r["step"] is None and not _FAMILY.match(r["key"])
    }


def latest_values(rows: list[dict[str, Any]], limit: int = 12) -> list[dict[str, Any]]:
    """The most recently logged value of each key (newest first), for the live view."""
    last: dict[tuple[Any, str], dict[str, Any]] = {}
    for r in rows:
        k = (r["phase"], r["key"])
        if k not in last or (r["ts"] or 0) >= (last[k]["ts"] or 0):
            last[k] = r
    newest = sorted(last.values(), key=lambda r: r["ts"] or 0, reverse=True)[:limit]
    return [
        {
            "phase": r["phase"],
            "key": r["key"],
            "step": r["step"],
            "value": r["value"],
            "age_s": round(max(0.0, time.time() - (r["ts"] or 0)), 1),
        }
        for r in newest
    ]


def filter_models(
    models: list[dict[str, Any]], text: str = "", phases: list[str] | None = None
) -> list[dict[str, Any]]:
    """Models whose id, phase, specialization or tags contain `text` (case-insensitive), in
    `phases` when given."""
    needle = text.strip().lower()
    out = []
    for m in models:
        if phases and m["phase_name"] not in phases:
            continue
        md = m.get("metadata") or {}
        hay = " ".join(
            str(x)
            for x in (m["model_id"], m["phase_name"], m.get("specialization"), md.get("tags"))
        )
        if needle and needle not in hay.lower():
            continue
        out.append(m)
    return out


MODEL_COLUMNS = ("model_id", "phase", "parameters", "size_mb", "created")


def model_table(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "model_id": m["model_id"],
            "phase": m["phase_name"],
            "parameters": m["parameters"],
            "size_mb": round(m["size_mb"], 3) if m["size_mb"] is not None else None,
            "created": m["created_at"],
        }
        for m in models
    ]


def archive_bytes(folder: str | Path) -> bytes:
    """The folder as a .tar.gz in memory, its files under `<folder name>/`."""
    folder = Path(folder)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return buf.getvalue()


def read_model_config(folder: str | Path) -> dict[str, Any] | None:
    path = Path(folder) / "config.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def ray_dashboard_url(
    given: str | None, probe: str = RAY_DASHBOARD_DEFAULT, timeout_s: float = 0.5
) -> str | None:
    """The Ray dashboard's URL: `given` (--ray-dashboard) as is, else `probe` when something
    answers there within `timeout_s`, else None (Ray is never started from here)."""
    if given:
        return given
    try:
        with urllib.request.urlopen(probe, timeout=timeout_s):
            return probe
    except urllib.error.HTTPError:  # an HTTP answer (even an error page): a server is there
        return probe
    except (urllib.error.URLError, OSError, ValueError):
        return None
