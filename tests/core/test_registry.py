"""registry: round trips, validation on read, did-you-mean, idempotence, concurrent processes."""

from __future__ import annotations

import math
import multiprocessing as mp
import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent_forge.core.registry import ModelRegistry
from agent_forge.core.storage import build_metadata
from agent_forge.errors import MetadataError, NotFoundError, UserInputError

SID = "1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b"


def _md(model_id: str, session_id: str = SID, phase: str = "cognate", **extra: Any) -> dict:
    return build_metadata(
        model_id=model_id,
        session_id=session_id,
        phase_name=phase,
        parameters=1_376_896,
        size_mb=5.25,
        sha256={"model.safetensors": "ab" * 32},
        specialization="reasoning",
        metrics={"final_loss": 2.5},
        extra=extra or None,
    )


@pytest.fixture
def reg(tmp_path: Path) -> ModelRegistry:
    r = ModelRegistry(tmp_path / "registry.db")
    r.create_session(SID, "tiny", {"run": {"seed": 42}})
    return r


def test_session_phase_round_trip(reg: ModelRegistry) -> None:
    s = reg.get_session(SID)
    assert (s["status"], s["profile"], s["config"]) == ("running", "tiny", {"run": {"seed": 42}})
    assert reg.get_session(SID[:8])["session_id"] == SID  # a unique prefix is enough
    assert reg.latest_session()["session_id"] == SID
    with pytest.raises(UserInputError, match="already exists"):
        reg.create_session(SID, "tiny", {})

    reg.set_phase_status(SID, "evomerge", "pending")
    reg.start_phase(SID, "cognate")
    reg.finish_phase(SID, "cognate", "failed", 1.5, error="boom")
    reg.start_phase(SID, "cognate")
    reg.finish_phase(
        SID, "cognate", "completed", 2.0, key_metric={"final_loss": 2.5}, result={"ok": True}
    )
    p = reg.get_phase(SID, "cognate")
    assert (p["status"], p["attempts"], p["error"], p["duration_seconds"]) == (
        "completed",
        2,
        None,
        2.0,
    )
    assert p["key_metric"] == {"final_loss": 2.5} and p["result"] == {"ok": True}
    assert [q["phase_name"] for q in reg.get_phases(SID)] == ["cognate", "evomerge"]
    with pytest.raises(NotFoundError, match="recorded: cognate, evomerge"):
        reg.get_phase(SID, "bitnet")
    with pytest.raises(UserInputError, match="pending, skipped"):
        reg.set_phase_status(SID, "bitnet", "completed")

    reg.set_session_status(SID, "completed")
    s = reg.get_session(SID)
    assert s["status"] == "completed" and s["ended_at"] is not None
    assert datetime.fromisoformat(s["ended_at"]).tzinfo is not None


def test_model_handoff_metrics_round_trip(reg: ModelRegistry, tmp_path: Path) -> None:
    md = _md("cognate_reasoning_20250101_120000", fitness=0.5)
    reg.register_model(md, tmp_path / "m1")
    reg.register_model(md, tmp_path / "m1")  # same again: a no-op
    got = reg.get_model("cognate_reasoning_20250101_120000")
    assert got["metadata"] == md and got["path"] == str(tmp_path / "m1")
    assert got["parameters"] == 1_376_896 and got["specialization"] == "reasoning"
    assert reg.has_model(md["model_id"]) and not reg.has_model("cognate_reasoning")
    assert reg.get_model("cognate_reas")["model_id"] == md["model_id"]  # unique prefix
    with pytest.raises(MetadataError, match="different metadata"):
        reg.register_model({**md, "size_mb": 9.0}, tmp_path / "m1")
    reg.register_model(_md("evomerge_best_20250101_130000", phase="evomerge"), tmp_path / "m2")
    assert [m["model_id"] for m in reg.models_of_phase(SID, "evomerge")] == [
        "evomerge_best_20250101_130000"
    ]
    assert len(reg.list_models()) == 2 and len(reg.list_models(phase="cognate")) == 1

    reg.record_handoff(SID, "cognate", "evomerge", [md["model_id"]], {"n": 3}, False, "2 < 3")
    reg.record_handoff(SID, "cognate", "evomerge", [md["model_id"]], {"n": 1}, True, "ok")
    (h,) = reg.get_handoffs(SID)
    assert (h["passed"], h["detail"], h["rule"], h["model_ids"]) == (
        True,
        "ok",
        {"n": 1},
        [md["model_id"]],
    )

    reg.log_metrics(SID, "cognate", 1, {"train/loss": 3.0, "ok": True, "note": "hi"})
    reg.log_metrics(SID, "cognate", 1, {"train/loss": 2.0, "nan": float("nan")})
    reg.log_metrics(SID, None, None, {"system/cpu": 50})
    rows = reg.get_metrics(SID)
    assert len(rows) == 5  # the repeated (phase, key, step) was updated, not duplicated
    by_key = {r["key"]: r for r in rows}
    assert by_key["train/loss"]["value"] == 2.0 and by_key["ok"]["value"] == 1.0
    assert by_key["note"]["value"] == "hi" and math.isnan(by_key["nan"]["value"])
    assert (by_key["system/cpu"]["phase"], by_key["system/cpu"]["step"]) == (None, None)
    assert [r["key"] for r in reg.get_metrics(SID, phase="cognate", key_prefix="train/")] == [
        "train/loss"
    ]


def test_metadata_is_validated_on_read(reg: ModelRegistry, tmp_path: Path) -> None:
    md = _md("cognate_reasoning_20250101_120000")
    reg.register_model(md, tmp_path / "m1")
    with sqlite3.connect(reg.db_path) as db:
        db.execute("UPDATE models SET metadata_json = ?", ('{"model_id": "x"}',))
    with pytest.raises(MetadataError, match="cognate_reasoning_20250101_120000"):
        reg.get_model(md["model_id"])
    with pytest.raises(MetadataError):
        reg.register_model({**md, "parameters": 5}, tmp_path / "m2")  # and on write


def test_unknown_ids_suggest_close_matches(reg: ModelRegistry, tmp_path: Path) -> None:
    reg.register_model(_md("cognate_reasoning_20250101_120000"), tmp_path / "m1")
    with pytest.raises(NotFoundError, match="did you mean cognate_reasoning_20250101_120000"):
        reg.get_model("cognate_reasonin_20250101_120000")
    typo = SID[:-1] + "c"
    with pytest.raises(NotFoundError, match=f"did you mean {SID}"):
        reg.get_session(typo)
    with pytest.raises(NotFoundError, match=f"did you mean {SID}"):
        reg.start_phase(typo, "cognate")
    with pytest.raises(NotFoundError):
        reg.register_model(_md("cognate_x_20250101_120000", session_id=str(uuid.uuid4())), "p")


def test_delete_session_removes_all_its_rows(reg: ModelRegistry, tmp_path: Path) -> None:
    other = str(uuid.uuid4())
    reg.create_session(other, "tiny", {})
    for sid in (SID, other):
        reg.start_phase(sid, "cognate")
        reg.register_model(_md(f"cognate_{sid[:4]}_20250101_120000", session_id=sid), tmp_path)
        reg.record_handoff(sid, "cognate", "evomerge", [], {}, True, "")
        reg.log_metrics(sid, "cognate", 0, {"loss": 1.0})
    reg.delete_session(SID)
    with sqlite3.connect(reg.db_path) as db:
        for table in ("sessions", "phases", "models", "handoffs", "metrics"):
            sids = {r[0] for r in db.execute(f"SELECT session_id FROM {table}")}
            assert sids == {other}, table


def test_threads_and_pickling_get_their_own_connection(reg: ModelRegistry) -> None:
    import pickle

    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            reg.log_metrics(SID, "cognate", i, {"loss": float(i)})
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(reg.get_metrics(SID)) == 8
    clone = pickle.loads(pickle.dumps(reg))
    assert clone.get_session(SID)["session_id"] == SID


def _writer(db_path: str, worker: int, barrier: Any) -> None:
    """One OS process: 25 models and 50 metric rows into the shared registry."""
    barrier.wait(timeout=60)  # all four open the new file and write at once
    reg = ModelRegistry(db_path)
    try:
        reg.create_session(SID, "tiny", {})
    except UserInputError:
        pass  # another worker created it first: creation is serialised, never doubled
    for i in range(25):
        mid = f"cognate_w{worker}_{i:02d}_20250101_120000"
        reg.register_model(_md(mid), f"/models/{mid}")
        reg.log_metrics(
            SID, "cognate", i, {f"w{worker}/loss": 1.0 / (i + 1), f"w{worker}/acc": 0.5}
        )
    reg.close()


def test_concurrent_writer_processes(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"  # not created yet: the workers race to create it
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_writer, args=(str(db), w, barrier)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]

    reg = ModelRegistry(db)
    assert len(reg.list_sessions()) == 1 and len(reg.list_models()) == 100
    assert len(reg.get_metrics(SID)) == 200
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == 200


def _forked_writer(reg: ModelRegistry, worker: int) -> None:
    inherited = reg._local.conn
    for i in range(10):
        reg.log_metrics(SID, None, i, {f"fork{worker}": float(i)})
    assert reg._local.conn is not inherited  # a connection must never cross a fork


def test_forked_children_open_their_own_connection(reg: ModelRegistry) -> None:
    reg.log_metrics(SID, None, None, {"parent": 1.0})  # the parent's connection is open
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_forked_writer, args=(reg, w)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    reg.log_metrics(SID, None, None, {"parent": 2.0})  # and still works afterwards
    assert len(reg.get_metrics(SID)) == 21


def test_clock_is_injectable(tmp_path: Path) -> None:
    when = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    reg = ModelRegistry(tmp_path / "r.db", clock=lambda: when)
    reg.create_session(SID, "tiny", {})
    assert reg.get_session(SID)["created_at"].startswith("2024-05-01T08:00:00")


def test_read_only_sees_new_rows_refuses_writes_and_creates_nothing(
    reg: ModelRegistry, tmp_path: Path
) -> None:
    """The dashboard's mode: SQLite mode=ro on a file another connection keeps writing."""
    missing = tmp_path / "none" / "registry.db"
    with pytest.raises(NotFoundError):
        ModelRegistry(missing, read_only=True)
    assert not missing.parent.exists()
    reader = ModelRegistry(reg.db_path, read_only=True)
    assert reader.get_metrics(SID) == []
    reg.log_metrics(SID, "cognate", 0, {"model_1/train/loss": 2.5})
    assert reader.get_metrics(SID)[0]["value"] == 2.5  # committed by the writer: seen
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.log_metrics(SID, "cognate", 1, {"model_1/train/loss": 2.0})
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.create_session(str(uuid.uuid4()), "tiny", {})
    assert len(reg.get_metrics(SID)) == 1 and len(reg.list_sessions()) == 1
    reader.close()


def test_latest_metrics_are_the_newest_value_of_the_newest_keys(reg: ModelRegistry) -> None:
    for step in range(3):
        reg.log_metrics(SID, "cognate", step, {"model_1/train/loss": 3.0 - step})
    reg.log_metrics(SID, "cognate", None, {"phase/success": True})
    latest = reg.latest_metrics(SID, limit=12)
    assert [(m["key"], m["value"]) for m in latest] == [
        ("phase/success", 1.0),
        ("model_1/train/loss", 1.0),
    ]
    assert [m["key"] for m in reg.latest_metrics(SID, limit=1)] == ["phase/success"]
