"""run_train_job / run_train_jobs: same weights with and without Ray, resume after SIGKILL of the
driver, two jobs at once. The crash test runs its drivers (each with its own Ray) in children."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import ray.train
import torch
from safetensors.torch import load_file

from agent_forge.config.schema import RayTrainScalingConfig
from agent_forge.runtime.train import (
    ListReporter,
    Reporter,
    ResumeState,
    TrainJob,
    run_train_job,
    run_train_jobs,
)

pytestmark = [pytest.mark.slow, pytest.mark.ray]

REPO = Path(__file__).resolve().parents[2]
ONE_CPU = RayTrainScalingConfig(num_workers=1, cpus_per_worker=1.0)
# The Train controller polls its workers every 2 s by default, and a report waits for that poll:
# 0.2 s takes ~6 s off each job here (docs/training-runtime.md). Read by fit(), in the driver.
FAST_POLL = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2"}


@pytest.fixture(autouse=True)
def _fast_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in FAST_POLL.items():
        monkeypatch.setenv(k, v)


def regression_loop(cfg: dict[str, Any], reporter: Reporter, resume: ResumeState | None) -> dict:
    """SGD on a 3-feature linear regression; the batch of step s depends on (seed, s) only, so a
    resumed run sees the same data as an uninterrupted one. Plain SGD: weights are all the state."""
    torch.manual_seed(cfg["seed"])
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.01 * torch.randn(64, 1)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    start = 0
    if resume is not None:
        model.load_state_dict(resume.state)
        start = resume.step + 1
    for step in range(start, cfg["steps"]):
        idx = torch.randperm(64, generator=torch.Generator().manual_seed(1000 * cfg["seed"] + step))
        loss = torch.nn.functional.mse_loss(model(x[idx[:16]]), y[idx[:16]])
        opt.zero_grad()
        loss.backward()
        opt.step()
        time.sleep(cfg.get("sleep_s", 0.0))
        reporter.report({"step": step, "loss": loss.item()}, model.state_dict(), {"lr": 0.1})
    return {"start": start}


def _in_process(cfg: dict[str, Any]) -> dict[str, torch.Tensor]:
    reporter = ListReporter()
    regression_loop(cfg, reporter, None)
    latest = reporter.latest_state()
    assert latest is not None and latest.step == cfg["steps"] - 1
    return latest.state


def _weights(checkpoint_path: str | None) -> dict[str, torch.Tensor]:
    assert checkpoint_path is not None
    return load_file(str(Path(checkpoint_path) / "state.safetensors"))


def test_ray_job_matches_in_process_run(ray_session, tmp_path: Path) -> None:
    cfg = {"seed": 3, "steps": 6}
    r = run_train_job(regression_loop, cfg, ONE_CPU, str(tmp_path), "parity")
    assert r.restored_step is None and r.value == {"start": 0}
    assert [m["step"] for m in r.history] == list(range(6))
    assert r.startup_s is not None and 0 < r.startup_s < r.wall_s
    torch.testing.assert_close(_weights(r.checkpoint_path), _in_process(cfg))


_DRIVER = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {repo!r})
    from agent_forge.config.schema import RayConfig, RayTrainScalingConfig
    from agent_forge.runtime.ray_runtime import start_ray
    from agent_forge.runtime.train import run_train_job
    from tests.runtime.test_train import regression_loop

    handle = start_ray(RayConfig(num_cpus=2, include_dashboard=False))
    r = run_train_job(regression_loop, {cfg!r}, RayTrainScalingConfig(), {store!r}, "crash")
    print("RESULT", json.dumps({{"restored": r.restored_step, "value": r.value,
          "checkpoint": r.checkpoint_path, "steps": [m["step"] for m in r.history]}}), flush=True)
    handle.shutdown()
    """
)


def _ray_descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _registered_checkpoints(run: Path) -> int:
    """Checkpoints the run's controller has recorded: what a restart resumes from. Folders on
    disk run ahead of this by up to one controller poll, and a crash loses those."""
    try:
        return len(ray.train.Result.from_path(str(run)).best_checkpoints or [])
    except Exception:  # no snapshot yet, or caught mid-write
        return 0


def _kill_session(pid: int) -> None:
    """SIGKILL the process group of a driver started with start_new_session (pgid == its pid)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _crash_after_checkpoints(cmd: list[str], env: dict[str, str], cwd: Path, run: Path) -> None:
    """Start a driver, SIGKILL it once 3 checkpoints are complete, check what Ray leaves behind.

    Measured (Ray 2.60): the process reaper takes gcs_server, raylet and the workers down within
    seconds, but raylet's ray::DashboardAgent and ray::RuntimeEnvAgent outlive it (still there
    after 60 s); they stay in the driver's process group, so killing that group reaps them.
    """
    driver = subprocess.Popen(cmd, env=env, cwd=cwd, start_new_session=True)
    ray_procs: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 60
        while _registered_checkpoints(run) < 3:
            assert driver.poll() is None, "the first driver ended before 3 checkpoints"
            assert time.monotonic() < deadline, "no 3 checkpoints within 60 s"
            time.sleep(0.2)
        ray_procs = _ray_descendants(driver.pid)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
        core = [p for p in ray_procs if p.name() in ("raylet", "gcs_server")]
        assert len(core) == 2, [p.name() for p in ray_procs]
        _, alive = psutil.wait_procs(core, timeout=15)
        assert alive == [], "raylet / gcs_server outlived the killed driver"
    finally:
        _kill_session(driver.pid)
    _, alive = psutil.wait_procs(ray_procs, timeout=10)
    assert alive == [], f"left after killing the driver's process group: {alive}"


def test_resume_after_driver_sigkill(tmp_path: Path) -> None:
    cfg = {"seed": 5, "steps": 10, "sleep_s": 0.3}
    store = tmp_path / "store"
    cmd = [sys.executable, "-c", _DRIVER.format(repo=str(REPO), cfg=cfg, store=str(store))]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = str(REPO)  # Train workers unpickle regression_loop from tests.runtime
    _crash_after_checkpoints(cmd, env, tmp_path, store / "crash")

    second = subprocess.Popen(
        cmd,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = second.communicate(timeout=90)
    finally:
        _kill_session(second.pid)
    assert second.returncode == 0, stderr[-3000:]
    line = next(s for s in stdout.splitlines() if s.startswith("RESULT "))
    out = json.loads(line.removeprefix("RESULT "))
    assert out["restored"] is not None and out["restored"] >= 2
    assert out["value"] == {"start": out["restored"] + 1}
    assert out["steps"] == list(range(10))  # the history spans the crash
    torch.testing.assert_close(_weights(out["checkpoint"]), _in_process(cfg))


def test_two_jobs_run_concurrently(ray_session, tmp_path: Path) -> None:
    jobs = [
        TrainJob(regression_loop, {"seed": s, "steps": 3}, ONE_CPU, str(tmp_path), f"job{s}")
        for s in (1, 2)
    ]
    t0 = time.monotonic()
    results = run_train_jobs(jobs)
    elapsed = time.monotonic() - t0
    assert [r.name for r in results] == ["job1", "job2"]
    for r, s in zip(results, (1, 2), strict=True):
        torch.testing.assert_close(
            _weights(r.checkpoint_path), _in_process({"seed": s, "steps": 3})
        )
    assert elapsed < 0.9 * sum(r.wall_s for r in results), "the two jobs did not overlap"
