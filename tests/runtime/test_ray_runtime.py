"""start_ray / resolve_address / config adapters; the loopback check runs a fresh Ray in a child."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent_forge.config.schema import RayConfig
from agent_forge.core.home import Home
from agent_forge.runtime.ray_runtime import (
    LOOPBACK_ENV,
    _free_dashboard_port,
    resolve_address,
    start_ray,
    storage_path,
    train_scaling_config,
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


def test_taken_dashboard_port_falls_back_to_ray_choice() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        assert _free_dashboard_port(held.getsockname()[1]) is None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert _free_dashboard_port(free) == free


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


# One child process runs a fresh Ray three ways; it imports ray before start_ray on purpose, as
# the loopback switch must take effect even then.
_CHILD = textwrap.dedent(
    """
    import json, os, socket, time
    import psutil, ray
    from ray.cluster_utils import Cluster
    from agent_forge.config.schema import RayConfig
    from agent_forge.errors import UserInputError
    from agent_forge.runtime.ray_runtime import start_ray

    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def listening():
        me = psutil.Process()
        found = []
        for proc in [me, *me.children(recursive=True)]:
            try:
                conns, name = proc.net_connections(kind="inet"), proc.name()
            except psutil.Error:
                continue
            found += [[name, c.laddr.ip, c.laddr.port]
                      for c in conns if c.status == psutil.CONN_LISTEN]
        return found

    out = {}
    t0 = time.monotonic()
    try:
        start_ray(RayConfig(), f"127.0.0.1:{free_port()}")
    except UserInputError as e:
        out["bad_address"] = {"message": str(e), "exit_code": e.exit_code,
                              "seconds": time.monotonic() - t0}

    cfg = RayConfig(num_cpus=1, dashboard_port=free_port(), object_store_memory_mb=100)
    handle = start_ray(cfg, None, dashboard=True)
    ray.get(ray.remote(lambda: os.getpid()).remote())  # a worker process is up and serving too
    deadline = time.monotonic() + 15  # until the dashboard and its agent have bound
    while time.monotonic() < deadline:
        found = listening()
        names = {name for name, _, _ in found}
        if "ray::DashboardAgent" in names and cfg.dashboard_port in {p for *_, p in found}:
            break
        time.sleep(0.25)
    out["local"] = {"listening": found, "dashboard_url": handle.dashboard_url,
                    "started_here": handle.started_here, "local": handle.local,
                    "cpus": handle.resources.get("CPU")}
    handle.shutdown()
    out["local"]["after_shutdown"] = ray.is_initialized()

    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    joined = start_ray(RayConfig(), cluster.address)
    out["join"] = {"address": cluster.address, "handle_address": joined.address,
                   "nodes": joined.node_count, "cpus": joined.resources.get("CPU"),
                   "started_here": joined.started_here, "local": joined.local}
    joined.shutdown()
    cluster.shutdown()
    print("RESULT " + json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def child(tmp_path_factory: pytest.TempPathFactory) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in LOOPBACK_ENV and k != "RAY_ADDRESS"}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD],
        cwd=tmp_path_factory.mktemp("ray_child"),
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


@pytest.mark.slow
@pytest.mark.ray
def test_unreachable_address_fails_fast_with_exit_code_2(child: dict) -> None:
    bad = child["bad_address"]
    assert bad["exit_code"] == 2 and "127.0.0.1:" in bad["message"]
    assert bad["seconds"] < 10  # ray.init alone retries for minutes


@pytest.mark.slow
@pytest.mark.ray
def test_local_ray_listens_on_loopback_only(child: dict) -> None:
    out = child["local"]
    assert out["started_here"] and out["local"] and out["cpus"] == 1.0
    assert out["dashboard_url"].startswith("http://127.0.0.1:")
    names = {name for name, _, _ in out["listening"]}
    assert {"gcs_server", "raylet", "ray::DashboardAgent"} <= names, out["listening"]
    dashboard_port = int(out["dashboard_url"].rsplit(":", 1)[1].strip("/"))
    assert dashboard_port in {port for _, _, port in out["listening"]}, out["listening"]
    exposed = [entry for entry in out["listening"] if not _is_loopback(entry[1])]
    assert not exposed, f"Ray ports not on loopback: {exposed}"
    assert out["after_shutdown"] is False


@pytest.mark.slow
@pytest.mark.ray
def test_start_ray_joins_a_two_node_cluster(child: dict) -> None:
    out = child["join"]
    assert out["handle_address"] == out["address"]
    assert (out["nodes"], out["cpus"]) == (2, 2.0)
    assert out["started_here"] and not out["local"]
