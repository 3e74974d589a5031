"""cleanup: retention by age and count with an injected clock, orphans, dry run vs apply."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent_forge.config.schema import RegistryConfig
from agent_forge.core.cleanup import apply_cleanup, plan_cleanup
from agent_forge.core.home import Home
from agent_forge.core.registry import ModelRegistry
from agent_forge.core.storage import build_metadata

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def home(forge_home: Path) -> Home:
    return Home(forge_home).ensure()


@pytest.fixture
def reg(home: Home) -> ModelRegistry:
    return ModelRegistry(home.registry_db)


def _session(
    reg: ModelRegistry, home: Home, created: datetime, status: str, ended: datetime
) -> str:
    sid = str(uuid.uuid4())
    reg.clock = lambda: created
    reg.create_session(sid, "tiny", {})
    if status != "running":
        reg.clock = lambda: ended
        reg.set_session_status(sid, status)
    (home.phase_dir(sid, "cognate") / "some_model").mkdir(parents=True)
    return sid


def _age(path: Path, seconds: float) -> None:
    """Backdate a folder and what is directly inside it."""
    when = time.time() - seconds
    for p in [path, *path.iterdir()]:
        os.utime(p, (when, when))


def test_plans_by_age_never_running_and_dry_run_deletes_nothing(
    reg: ModelRegistry, home: Home
) -> None:
    days = lambda n: NOW - timedelta(days=n)  # noqa: E731
    old_done = _session(reg, home, days(40), "completed", days(31))
    old_failed = _session(reg, home, days(9), "failed", days(8))
    recent_done = _session(reg, home, days(40), "completed", days(29))
    running = _session(reg, home, days(90), "running", days(90))
    young_failed = _session(reg, home, days(6), "failed", days(6))

    plan = plan_cleanup(reg, home, RegistryConfig(), now=NOW)
    assert {p["session_id"] for p in plan} == {old_done, old_failed}
    reasons = {p["session_id"]: p["reason"] for p in plan}
    assert "keep_completed_days=30" in reasons[old_done]
    assert "keep_failed_days=7" in reasons[old_failed]
    assert all(p["path"] == str(home.session_dir(p["session_id"])) for p in plan)
    # planning alone is a dry run
    assert len(reg.list_sessions()) == 5
    assert all(home.session_dir(s).is_dir() for s in (old_done, old_failed))

    done = apply_cleanup(reg, plan)
    assert len(done) == 2
    left = {s["session_id"] for s in reg.list_sessions()}
    assert left == {recent_done, running, young_failed}
    assert sorted(p.name for p in home.sessions_dir.iterdir()) == sorted(left)
    assert plan_cleanup(reg, home, RegistryConfig(), now=NOW) == []


def test_max_sessions_plans_the_oldest_non_running(reg: ModelRegistry, home: Home) -> None:
    sids = [
        _session(reg, home, NOW - timedelta(days=d), "completed", NOW - timedelta(days=d - 0.5))
        for d in (5, 4, 3, 2, 1)
    ]
    plan = plan_cleanup(reg, home, RegistryConfig(max_sessions=3), now=NOW)
    assert [p["session_id"] for p in plan] == sids[:2]
    assert all("over max_sessions=3" in p["reason"] for p in plan)

    reg.clock = lambda: NOW
    reg.set_session_status(sids[0], "running")  # a running session is never chosen
    plan = plan_cleanup(reg, home, RegistryConfig(max_sessions=3), now=NOW)
    assert [p["session_id"] for p in plan] == sids[1:3]
    apply_cleanup(reg, plan)
    assert [s["session_id"] for s in reg.list_sessions()] == [sids[0], *sids[3:]]


def test_orphaned_folders_older_than_an_hour(reg: ModelRegistry, home: Home) -> None:
    sid = str(uuid.uuid4())
    reg.create_session(sid, "tiny", {})
    reg.set_session_status(sid, "completed")
    phase_dir = home.phase_dir(sid, "cognate")
    kept_id = "cognate_kept_20250101_120000"
    folders = {
        name: phase_dir / name
        for name in (kept_id, "cognate_killed_20250101_120000", "young", ".x.tmp-abc", "ckpt")
    }
    for name, d in folders.items():
        d.mkdir(parents=True)
        (d / ("manifest.json" if name == "ckpt" else "model.safetensors")).write_bytes(b"w")
    md = build_metadata(
        model_id=kept_id,
        session_id=sid,
        phase_name="cognate",
        parameters=1_000_000,
        size_mb=4.0,
        sha256={"model.safetensors": "0" * 64},
    )
    reg.register_model(md, folders[kept_id])
    for name, d in folders.items():
        if name != "young":
            _age(d, 2 * 3600)
    orphan_session = home.session_dir("not-in-the-registry")
    orphan_session.mkdir()
    _age(orphan_session, 2 * 3600)
    (home.sessions_dir / "just-started").mkdir()

    plan = plan_cleanup(reg, home, RegistryConfig())
    planned = {Path(p["path"]).name: p for p in plan}
    assert set(planned) == {"cognate_killed_20250101_120000", ".x.tmp-abc", "not-in-the-registry"}
    assert "orphaned session folder" in planned["not-in-the-registry"]["reason"]
    assert "unregistered model folder" in planned[".x.tmp-abc"]["reason"]

    apply_cleanup(reg, plan)
    assert sorted(p.name for p in phase_dir.iterdir()) == sorted([kept_id, "young", "ckpt"])
    assert not orphan_session.exists() and (home.sessions_dir / "just-started").is_dir()
    assert reg.get_session(sid)["status"] == "completed"  # rows of a kept session stay
    assert reg.get_model(kept_id)["path"] == str(folders[kept_id])
