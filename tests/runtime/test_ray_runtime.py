"""start_ray / resolve_address / config adapters; the loopback check runs a fresh Ray in a child."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent_forge.config.schema import RayConfig
from agent_forge.core.home import Home
from agent_forge.runtime.ray_runtime import (
    LOOPBACK_ENV,
    resolve_address,
    start_ray,
    storage_path,
    train_scaling_config,
    tune_resources,
)

REPO = Path(__file__).resolve().parents[2]


def _is_loopback(ip: str) -> bool:
    """127.0.0.1, ::1, or IPv4-mapped loopback (::ffff:127.0.0.1, how gRPC binds IPv4)."""
    addr = ipaddress.ip_address(ip)
    mapped = getattr(addr, "ipv4_mapped", None)
    return addr.is_loopback or (mapped is not None and mapped.is_loopback)


def test_resolve_address_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = RayConfig(address="cfg-host:6379")
    monkeypatch.setenv("RAY_ADDRESS", "env-host:6379")
    assert resolve_address("cli-host:6379", cfg) == "cli-host:6379"
    assert resolve_address(None, cfg) == "env-host:6379"
    assert resolve_address("", cfg) == "env-host:6379"
    monkeypatch.delenv("RAY_ADDRESS")
    assert resolve_address(None, cfg) == "cfg-host:6379"
    assert resolve_address(None, RayConfig()) is None
    assert resolve_address("local", cfg) is None


def test_storage_path_defaults_to_home(tmp_path: Path) -> None:
    home = Home(tmp_path)
    assert storage_path(RayConfig(), home) == str(tmp_path / "ray_results")
    assert storage_path(RayConfig(storage_path="s3://bucket/x"), home) == "s3://bucket/x"


def test_train_and_tune_adapters() -> None:
    cfg = RayConfig.model_validate(
        {"train": {"num_workers": 2, "cpus_per_worker": 0.5}, "tune": {"gpus_per_trial": 0.25}}
    )
    scaling = train_scaling_config(cfg)
    assert (scaling.num_workers, scaling.use_gpu) == (2, False)
    assert scaling.resources_per_worker == {"CPU": 0.5}
    assert train_scaling_config(RayConfig(train={"use_gpu": True})).resources_per_worker == {
        "CPU": 1.0,
        "GPU": 1.0,
    }
    assert tune_resources(cfg) == {"cpu": 1.0, "gpu": 0.25}


@pytest.mark.ray
def test_start_ray_reuses_running_ray(ray_session, tmp_path: Path) -> None:
    handle = start_ray(RayConfig(), "unreachable:1", home=tmp_path)
    assert handle.started_here is False and handle.local is False
    assert handle.node_count == 1
    assert handle.resources["CPU"] == 2.0
    assert handle.address == ray_session.get_runtime_context().gcs_address
    assert handle.storage_path == str(tmp_path / "ray_results")
    handle.shutdown()  # not ours: must leave the session Ray running
    assert ray_session.is_initialized()


# The child imports ray before start_ray on purpose: the loopback switch must still take effect.
_CHILD = textwrap.dedent(
    """
    import json, os, socket, sys, time
    import psutil, ray
    from agent_forge.config.schema import RayConfig
    from agent_forge.core.errors import UserInputError
    from agent_forge.runtime.ray_runtime import start_ray

    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    out = {}
    t0 = time.monotonic()
    try:
        start_ray(RayConfig(), f"127.0.0.1:{free_port()}")
    except UserInputError as e:
        out["bad_address"] = {"message": str(e), "exit_code": e.exit_code,
                              "seconds": time.monotonic() - t0}
    cfg = RayConfig(num_cpus=1, dashboard_port=free_port(), object_store_memory_mb=100)
    handle = start_ray(cfg, None, dashboard=True)

    @ray.remote
    def ping():
        return os.getpid()

    out["worker_pid"] = ray.get(ping.remote())  # a worker process is up and serving too
    time.sleep(2)  # let the dashboard agent and runtime-env agent bind
    me = psutil.Process()
    listening = []
    for proc in [me, *me.children(recursive=True)]:
        try:
            conns = proc.net_connections(kind="inet")
        except psutil.Error:
            continue
        listening += [[proc.name(), c.laddr.ip, c.laddr.port]
                      for c in conns if c.status == psutil.CONN_LISTEN]
    out.update(listening=listening, dashboard_url=handle.dashboard_url,
               started_here=handle.started_here, local=handle.local,
               cpus=handle.resources.get("CPU"))
    handle.shutdown()
    out["after_shutdown"] = ray.is_initialized()
    print("RESULT " + json.dumps(out))
    """
)


@pytest.mark.slow
@pytest.mark.ray
def test_local_ray_listens_on_loopback_only(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in LOOPBACK_ENV and k != "RAY_ADDRESS"}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1].removeprefix("RESULT "))

    bad = out["bad_address"]
    assert bad["exit_code"] == 2 and "127.0.0.1:" in bad["message"]
    assert bad["seconds"] < 10
    assert out["started_here"] and out["local"] and out["cpus"] == 1.0
    assert out["dashboard_url"].startswith("http://127.0.0.1:")
    names = {name for name, _, _ in out["listening"]}
    assert {"gcs_server", "raylet"} <= names, out["listening"]
    dashboard_port = int(out["dashboard_url"].rsplit(":", 1)[1].strip("/"))
    assert dashboard_port in {port for _, _, port in out["listening"]}, out["listening"]
    exposed = [entry for entry in out["listening"] if not _is_loopback(entry[1])]
    assert not exposed, f"Ray ports not on loopback: {exposed}"
    assert out["after_shutdown"] is False


_JOIN_CHILD = textwrap.dedent(
    """
    import json
    from ray.cluster_utils import Cluster
    from agent_forge.config.schema import RayConfig
    from agent_forge.runtime.ray_runtime import apply_loopback_env, start_ray

    apply_loopback_env()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    handle = start_ray(RayConfig(), cluster.address)
    out = {"address": cluster.address, "handle_address": handle.address,
           "nodes": handle.node_count, "cpus": handle.resources.get("CPU"),
           "started_here": handle.started_here, "local": handle.local}
    handle.shutdown()
    cluster.shutdown()
    print("RESULT " + json.dumps(out))
    """
)


@pytest.mark.slow
@pytest.mark.ray
def test_start_ray_joins_a_two_node_cluster(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in LOOPBACK_ENV and k != "RAY_ADDRESS"}
    proc = subprocess.run(
        [sys.executable, "-c", _JOIN_CHILD],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1].removeprefix("RESULT "))
    assert out["handle_address"] == out["address"]
    assert (out["nodes"], out["cpus"]) == (2, 2.0)
    assert out["started_here"] and not out["local"]
