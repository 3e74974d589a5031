"""The SQLite registry of sessions, phases, models, handoffs and metrics (spec: Registry).

WAL, synchronous=NORMAL, 30 s busy timeout and short `BEGIN IMMEDIATE` writes, so processes (Ray
workers, the dashboard) share one file; one connection per thread and process. Model metadata is
validated against the JSON schema on write and on read."""

from __future__ import annotations

import difflib
import json
import logging
import math
import numbers
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent_forge.core.storage import validate_metadata
from agent_forge.errors import MetadataError, NotFoundError, UserInputError

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]

SESSION_STATUSES = ("running", "completed", "failed", "incomplete")
PHASE_STATUSES = ("pending", "running", "completed", "failed", "skipped")
_ENDED = ("completed", "failed", "incomplete")

_FK = "session_id TEXT NOT NULL REFERENCES sessions(session_id) ON DELETE CASCADE"
_DDL = (
    f"""CREATE TABLE IF NOT EXISTS sessions (session_id TEXT PRIMARY KEY, profile TEXT,
        status TEXT NOT NULL CHECK (status IN {SESSION_STATUSES}), created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL, ended_at TEXT, config_json TEXT, error TEXT)""",
    f"""CREATE TABLE IF NOT EXISTS phases ({_FK}, phase_name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN {PHASE_STATUSES}), started_at TEXT, ended_at TEXT,
        duration_seconds REAL, attempts INTEGER NOT NULL DEFAULT 0, error TEXT,
        key_metric_json TEXT, result_json TEXT, UNIQUE (session_id, phase_name))""",
    f"""CREATE TABLE IF NOT EXISTS models (model_id TEXT PRIMARY KEY, {_FK},
        phase_name TEXT NOT NULL, path TEXT NOT NULL, created_at TEXT NOT NULL,
        parameters INTEGER NOT NULL, size_mb REAL NOT NULL, specialization TEXT,
        metadata_json TEXT NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS handoffs ({_FK}, source_phase TEXT NOT NULL,
        target_phase TEXT NOT NULL, model_ids_json TEXT NOT NULL, rule_json TEXT NOT NULL,
        passed INTEGER NOT NULL, detail TEXT, created_at TEXT NOT NULL,
        UNIQUE (session_id, source_phase, target_phase))""",
    f"""CREATE TABLE IF NOT EXISTS metrics ({_FK}, phase_name TEXT NOT NULL DEFAULT '',
        key TEXT NOT NULL, step INTEGER NOT NULL DEFAULT -1, value REAL, value_json TEXT,
        ts REAL NOT NULL, UNIQUE (session_id, phase_name, key, step))""",
    "CREATE INDEX IF NOT EXISTS models_by_session ON models (session_id, phase_name)",
)
_TABLES = ("metrics", "handoffs", "models", "phases", "sessions")  # child tables first


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    """Row as a dict; each `<name>_json` column decoded into `<name>`."""
    return {
        (k[:-5] if k.endswith("_json") else k): (
            json.loads(v) if k.endswith("_json") and v is not None else v
        )
        for k, v in dict(row).items()
    }


def _dumps(obj: Any) -> str | None:
    return None if obj is None else json.dumps(obj, sort_keys=True)


_PHASE_KEY = ("session_id", "phase_name")
_RESTART = (  # start_phase on an existing row: a new attempt, the last outcome cleared
    "status = 'running', started_at = excluded.started_at, attempts = attempts + 1,"
    " ended_at = NULL, duration_seconds = NULL, error = NULL, key_metric_json = NULL,"
    " result_json = NULL"
)
_MODEL_COLUMNS = (
    "model_id",
    "session_id",
    "phase_name",
    "created_at",
    "parameters",
    "size_mb",
    "specialization",
)


def _insert(c: sqlite3.Connection, table: str, row: dict[str, Any], tail: str = "") -> None:
    marks = ", ".join("?" * len(row))
    c.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks}){tail}", tuple(row.values()))


def _upsert(
    c: sqlite3.Connection, table: str, row: dict[str, Any], keys: tuple[str, ...], sets: str = ""
) -> None:
    """Insert `row`, or on a clash of `keys` apply `sets` (default: overwrite the other columns)."""
    sets = sets or ", ".join(f"{k} = excluded.{k}" for k in row if k not in keys)
    _insert(c, table, row, f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}")


def _metric(row: sqlite3.Row) -> dict[str, Any]:
    value = row["value"] if row["value_json"] is None else json.loads(row["value_json"])
    step = None if row["step"] == -1 else row["step"]
    return {
        "phase": row["phase_name"] or None,
        "key": row["key"],
        "step": step,
        "value": value,
        "ts": row["ts"],
    }


def _enable_wal(conn: sqlite3.Connection, wait_s: float = 30.0) -> str:
    """Switch to WAL. Two processes opening a new file at once can get SQLITE_BUSY here without
    the busy handler being consulted, so retry for up to `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise UserInputError(f"{what} {value!r} is not one of {', '.join(allowed)}")


class ModelRegistry:
    """One SQLite file; all reads and writes of pipeline state go through here."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        clock: Clock | None = None,
        read_only: bool = False,
    ) -> None:
        """`read_only`: open an existing file with SQLite's `mode=ro` (the dashboard): nothing
        is created, every write raises `sqlite3.OperationalError`, and rows another process
        commits are seen by the next query."""
        self.db_path = Path(db_path)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.read_only = read_only
        self._local = threading.local()
        self._stale: list[sqlite3.Connection] = []  # inherited over fork: never closed by us
        if read_only:
            if not self.db_path.is_file():
                raise NotFoundError(f"no registry at {self.db_path}")
            return
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._conn()
        if _enable_wal(conn) != "wal" and str(db_path) != ":memory:":
            log.warning("%s: WAL journal mode unavailable on this filesystem", self.db_path)
        with self._tx() as c:
            for stmt in _DDL:
                c.execute(stmt)

    def __getstate__(self) -> dict[str, Any]:  # picklable for spawn / Ray: reopen on arrival
        return {"db_path": self.db_path, "read_only": self.read_only}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["db_path"], read_only=state.get("read_only", False))  # type: ignore[misc]

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        if conn is not None:  # forked: SQLite connections must not cross fork; leave it alone
            self._stale.append(conn)
        if self.read_only:
            uri = f"{self.db_path.resolve().as_uri()}?mode=ro"
            conn = sqlite3.connect(uri, timeout=30.0, isolation_level=None, uri=True)
        else:
            conn = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=30000")
        if not self.read_only:
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction that takes the write lock up front (no upgrade deadlock)."""
        c = self._conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:  # also when COMMIT itself failed: never leave it open
                c.execute("ROLLBACK")
            raise

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self._conn().execute(sql, params).fetchall()

    def _select(self, table: str, order: str, **equal: Any) -> list[sqlite3.Row]:
        """Rows of `table` whose columns equal the given values (None = no filter)."""
        conds = {k: v for k, v in equal.items() if v is not None}
        where = " AND ".join(f"{k} = ?" for k in conds) or "1 = 1"
        sql = f"SELECT * FROM {table} WHERE {where} ORDER BY {order}"
        return self._query(sql, tuple(conds.values()))

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local.conn = None

    def _now(self) -> str:
        return self.clock().astimezone(UTC).isoformat(timespec="microseconds")

    def _resolve(self, table: str, column: str, ident: str, kind: str) -> str:
        """Exact id, else a unique prefix of one; NotFoundError with close matches otherwise."""
        if not ident:
            raise NotFoundError(f"no {kind} id given")
        exact = self._query(f"SELECT {column} FROM {table} WHERE {column} = ?", (ident,))
        if exact:
            return ident
        rows = self._query(
            f"SELECT {column} FROM {table} WHERE substr({column}, 1, ?) = ?", (len(ident), ident)
        )
        if len(rows) == 1:
            return str(rows[0][0])
        if len(rows) > 1:
            ids = ", ".join(sorted(r[0] for r in rows)[:5])
            raise UserInputError(f"{kind} prefix {ident!r} is ambiguous: {ids}")
        known = [r[0] for r in self._query(f"SELECT {column} FROM {table}")]
        close = difflib.get_close_matches(ident, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise NotFoundError(f"unknown {kind} {ident!r}{hint}")

    def _require_session(self, c: sqlite3.Connection, sid: str) -> None:
        if c.execute("SELECT 1 FROM sessions WHERE session_id = ?", (sid,)).fetchone() is None:
            self._resolve("sessions", "session_id", sid, "session")  # raises with a suggestion
            raise NotFoundError(f"unknown session {sid!r} (a prefix is not accepted here)")

    def create_session(self, session_id: str, profile: str, config: dict[str, Any]) -> None:
        now = self._now()
        with self._tx() as c:
            if c.execute("SELECT 1 FROM sessions WHERE session_id = ?", (session_id,)).fetchone():
                raise UserInputError(f"session {session_id!r} already exists")
            c.execute(
                "INSERT INTO sessions (session_id, profile, status, created_at, updated_at,"
                " config_json) VALUES (?, ?, 'running', ?, ?, ?)",
                (session_id, profile, now, now, _dumps(config)),
            )

    def get_session(self, session_id: str) -> dict[str, Any]:
        sid = self._resolve("sessions", "session_id", session_id, "session")
        return _decode(self._query("SELECT * FROM sessions WHERE session_id = ?", (sid,))[0])

    def latest_session(self) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM sessions ORDER BY created_at DESC, rowid DESC LIMIT 1")
        return _decode(rows[0]) if rows else None

    def list_sessions(self) -> list[dict[str, Any]]:
        rows = self._query("SELECT * FROM sessions ORDER BY created_at, rowid")
        return [_decode(r) for r in rows]

    def set_session_status(self, session_id: str, status: str, error: str | None = None) -> None:
        _check(status, SESSION_STATUSES, "session status")
        now = self._now()
        with self._tx() as c:
            self._require_session(c, session_id)
            c.execute(
                "UPDATE sessions SET status = ?, updated_at = ?, ended_at = ?, error = ?"
                " WHERE session_id = ?",
                (status, now, now if status in _ENDED else None, error, session_id),
            )

    def delete_session(self, session_id: str) -> None:
        """Remove the session and every row that belongs to it (folders are cleanup's job)."""
        with self._tx() as c:
            self._require_session(c, session_id)
            for table in _TABLES:
                c.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))

    def _touch(self, c: sqlite3.Connection, sid: str, now: str) -> None:
        c.execute("UPDATE sessions SET updated_at = ? WHERE session_id = ?", (now, sid))

    def start_phase(self, session_id: str, phase: str) -> None:
        """Mark `phase` running: a new attempt, with the previous attempt's outcome cleared."""
        now = self._now()
        row = {"session_id": session_id, "phase_name": phase, "status": "running"}
        with self._tx() as c:
            self._require_session(c, session_id)
            _upsert(c, "phases", {**row, "started_at": now, "attempts": 1}, _PHASE_KEY, _RESTART)
            self._touch(c, session_id, now)

    def finish_phase(
        self,
        session_id: str,
        phase: str,
        status: str,
        duration_seconds: float,
        error: str | None = None,
        key_metric: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        _check(status, PHASE_STATUSES, "phase status")
        now = self._now()
        row = {"session_id": session_id, "phase_name": phase, "status": status, "ended_at": now}
        row |= {"duration_seconds": float(duration_seconds), "error": error}
        row |= {"key_metric_json": _dumps(key_metric), "result_json": _dumps(result)}
        with self._tx() as c:
            self._require_session(c, session_id)
            _upsert(c, "phases", row, _PHASE_KEY)  # attempts stay as start_phase counted them
            self._touch(c, session_id, now)

    def set_phase_status(self, session_id: str, phase: str, status: str) -> None:
        """Record a phase that will not run now: `pending` (planned) or `skipped`."""
        _check(status, ("pending", "skipped"), "phase status")
        row = {"session_id": session_id, "phase_name": phase, "status": status}
        with self._tx() as c:
            self._require_session(c, session_id)
            _upsert(c, "phases", row, _PHASE_KEY)

    def get_phases(self, session_id: str) -> list[dict[str, Any]]:
        """Started phases by start time, then phases never started in the order they were added."""
        rows = self._select(
            "phases", "started_at IS NULL, started_at, rowid", session_id=session_id
        )
        return [_decode(r) for r in rows]

    def get_phase(self, session_id: str, phase: str) -> dict[str, Any]:
        rows = self._select("phases", "rowid", session_id=session_id, phase_name=phase)
        if not rows:
            known = ", ".join(p["phase_name"] for p in self.get_phases(session_id)) or "none"
            raise NotFoundError(f"no phase {phase!r} in session {session_id!r} (recorded: {known})")
        return _decode(rows[0])

    def register_model(self, metadata: dict[str, Any], path: str | os.PathLike[str]) -> None:
        """Validate and insert; the same id with the same metadata and path again is a no-op."""
        validate_metadata(metadata)
        mid, text, where = metadata["model_id"], _dumps(metadata), str(path)
        with self._tx() as c:
            self._require_session(c, metadata["session_id"])
            old = c.execute(
                "SELECT metadata_json, path FROM models WHERE model_id = ?", (mid,)
            ).fetchone()
            if old is not None:
                if old["metadata_json"] == text and old["path"] == where:
                    return
                raise MetadataError(f"model {mid!r} is already registered with different metadata")
            row = {k: metadata.get(k) for k in _MODEL_COLUMNS}
            _insert(c, "models", {**row, "path": where, "metadata_json": text})

    def has_model(self, model_id: str) -> bool:
        """Whether exactly this id is registered (no prefix matching)."""
        return bool(self._query("SELECT 1 FROM models WHERE model_id = ?", (model_id,)))

    @staticmethod
    def _model(row: sqlite3.Row) -> dict[str, Any]:
        d = dict(row)
        text = d.pop("metadata_json")
        try:
            md = json.loads(text)
            validate_metadata(md)
        except (json.JSONDecodeError, MetadataError) as e:
            raise MetadataError(f"registry row of model {d['model_id']!r}: {e}") from e
        d["metadata"] = md
        return d

    def get_model(self, model_id: str) -> dict[str, Any]:
        mid = self._resolve("models", "model_id", model_id, "model")
        return self._model(self._query("SELECT * FROM models WHERE model_id = ?", (mid,))[0])

    def list_models(
        self, phase: str | None = None, session_id: str | None = None
    ) -> list[dict[str, Any]]:
        rows = self._select("models", "created_at, rowid", phase_name=phase, session_id=session_id)
        return [self._model(r) for r in rows]

    def models_of_phase(self, session_id: str, phase: str) -> list[dict[str, Any]]:
        return self.list_models(phase=phase, session_id=session_id)

    def record_handoff(
        self,
        session_id: str,
        source: str,
        target: str,
        model_ids: list[str],
        rule: dict[str, Any],
        passed: bool,
        detail: str,
    ) -> None:
        row = {"session_id": session_id, "source_phase": source, "target_phase": target}
        row |= {"model_ids_json": _dumps(list(model_ids)), "rule_json": _dumps(rule)}
        row |= {"passed": int(passed), "detail": detail, "created_at": self._now()}
        keys = ("session_id", "source_phase", "target_phase")
        with self._tx() as c:
            self._require_session(c, session_id)
            _upsert(c, "handoffs", row, keys)

    def get_handoffs(self, session_id: str) -> list[dict[str, Any]]:
        rows = self._select("handoffs", "rowid", session_id=session_id)
        return [{**_decode(r), "passed": bool(r["passed"])} for r in rows]

    def log_metrics(
        self, session_id: str, phase: str | None, step: int | None, metrics: dict[str, Any]
    ) -> None:
        """Upsert one row per key. Finite numbers and bools go to `value`; anything else (NaN,
        which SQLite would turn into NULL, strings, lists) goes to `value_json`."""
        ts = self.clock().timestamp()
        base = {"session_id": session_id, "phase_name": phase or ""}
        base["step"] = -1 if step is None else int(step)
        keys = ("session_id", "phase_name", "key", "step")
        with self._tx() as c:
            self._require_session(c, session_id)
            for key, v in metrics.items():
                numeric = isinstance(v, numbers.Real) and math.isfinite(float(v))
                value, value_json = (float(v), None) if numeric else (None, json.dumps(v))
                row = {**base, "key": str(key), "value": value, "value_json": value_json, "ts": ts}
                _upsert(c, "metrics", row, keys)

    def get_metrics(
        self, session_id: str, phase: str | None = None, key_prefix: str | None = None
    ) -> list[dict[str, Any]]:
        rows = self._select(
            "metrics", "phase_name, key, step", session_id=session_id, phase_name=phase
        )
        return [_metric(r) for r in rows if key_prefix is None or r["key"].startswith(key_prefix)]

    def latest_metrics(self, session_id: str, limit: int = 12) -> list[dict[str, Any]]:
        """The newest value of each (phase, key), for the `limit` keys logged most recently
        (newest first): a live view without reading every row of the session."""
        rows = self._query(
            "SELECT *, MAX(ts) AS last_ts FROM metrics WHERE session_id = ?"
            " GROUP BY phase_name, key ORDER BY last_ts DESC, rowid DESC LIMIT ?",
            (session_id, int(limit)),
        )  # SQLite: the bare columns of a MAX() aggregate come from the row holding the max
        return [_metric(r) for r in rows]
