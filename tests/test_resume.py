"""Crash and resume through the real CLI: SIGKILL mid-phase, then `run --resume` finishes it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent_forge.core.registry import ModelRegistry

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow]


def _cli(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tests.support.cli_with_test_phases", *args, "--home", str(home)]


def _env(sleep: float, steps: int = 6) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO),
        FORGE_TEST_STEPS=str(steps),
        FORGE_TEST_SLEEP=str(sleep),
        WANDB_MODE="offline",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
    )
    env.pop("RAY_ADDRESS", None)
    return env


def _wait_for_checkpoints(home: Path, n: int, proc: subprocess.Popen, timeout: float = 180) -> Path:
    end = time.time() + timeout
    while time.time() < end:
        dirs = sorted(home.glob("sessions/*/cognate/checkpoints/step_*"))
        if len(dirs) >= n:
            return dirs[0].parents[2]
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else "exited early"
        time.sleep(0.2)
    raise AssertionError("no checkpoints appeared")


def test_sigkill_mid_phase_then_resume_completes_without_duplicates(tmp_path):
    home = tmp_path / "home"
    args = (
        "run",
        "--phase",
        "cognate",
        "--no-dashboard",
        "--set",
        "ray.num_cpus=1",
        "--set",
        "monitor.interval_seconds=0.5",
    )
    proc = subprocess.Popen(
        _cli(home, *args),
        cwd=REPO,
        env=_env(sleep=0.5),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: Ray agents that outlive it are ours to end
    )
    try:
        _kill_then_resume(home, proc)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # ray::DashboardAgent can outlive a killed driver


def _kill_then_resume(home: Path, proc: subprocess.Popen) -> None:
    session_dir = _wait_for_checkpoints(home, 3, proc)
    twice = subprocess.run(
        _cli(home, "run", "--resume", session_dir.name),
        cwd=REPO,
        env=_env(0),
        capture_output=True,
        text=True,
    )
    assert twice.returncode == 2 and "still running" in twice.stderr  # never two drivers
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    sid = session_dir.name

    status = subprocess.run(
        _cli(home, "status", "--json"),
        cwd=REPO,
        env=_env(0),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(status.stdout)["status"] == "interrupted"

    done = subprocess.run(
        _cli(home, "run", "--resume", sid, "--json", "--no-dashboard"),
        cwd=REPO,
        env=_env(0),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "completed" and report["ran"] == ["cognate"]
    resumed_from = report["results"]["cognate"]["metrics"]["phase/resumed_from_step"]
    assert resumed_from >= 3  # continued from its checkpoint, did not start over

    reg = ModelRegistry(home / "registry.db")
    assert reg.get_session(sid)["status"] == "completed"
    phases = reg.get_phases(sid)
    assert len(phases) == 1 and phases[0]["status"] == "completed" and phases[0]["attempts"] == 2
    assert len(reg.list_models(session_id=sid)) == 3
    losses = [m for m in reg.get_metrics(sid, phase="cognate") if m["key"].endswith("/train/loss")]
    steps = sorted(m["step"] for m in losses)
    assert steps == list(range(18))  # 3 models x 6 steps, each step exactly once
    assert len(reg.list_sessions()) == 1
