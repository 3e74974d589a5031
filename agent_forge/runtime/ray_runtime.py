"""Start or join Ray: an embedded local Ray on loopback, or a cluster from `ray start --head`.

Also the small adapters from `RayConfig` to Ray Train's `ScalingConfig` and Tune's resources
(docs/ARCHITECTURE.md §4, docs/scaling.md).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_forge.config.schema import RayConfig
from agent_forge.core.home import Home
from agent_forge.errors import UserInputError

if TYPE_CHECKING:
    from ray.train import ScalingConfig

log = logging.getLogger(__name__)

# A local Ray binds every port to 127.0.0.1 only when RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 is in
# the environment before its processes start; `_node_ip_address` alone leaves ports on 0.0.0.0.
_LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
LOOPBACK_ENV: dict[str, str] = {
    _LOOPBACK_SWITCH: "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",  # the local dashboard refuses to start without it
}
_LOCALHOST = ("127.0.0.1", "localhost", "::1")
_CONNECT_TIMEOUT_S = 3.0
_RAY_CLIENT_PORT = 10001


def _keep_loopback_ip() -> None:
    """Make Ray use 127.0.0.1 as this node's IP (unless the user set the switch otherwise).

    Ray reads the switch once, when `ray` is imported; if it was imported before this call, the
    driver's copy of the flag is brought in line with the environment.
    """
    os.environ.setdefault(_LOOPBACK_SWITCH, "0")
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None and os.environ[_LOOPBACK_SWITCH].lower() in ("0", "false"):
        constants.ENABLE_RAY_CLUSTER = False


def apply_loopback_env() -> None:
    """Set the LOOPBACK_ENV keys that are not already set (a user's explicit value wins)."""
    for key, value in LOOPBACK_ENV.items():
        os.environ.setdefault(key, value)
    _keep_loopback_ip()


def resolve_address(cli_address: str | None, cfg: RayConfig) -> str | None:
    """Which Ray to use: `--address`, then env RAY_ADDRESS, then `ray.address`; None = local."""
    for candidate in (cli_address, os.environ.get("RAY_ADDRESS"), cfg.address):
        if candidate and candidate.strip():
            address = candidate.strip()
            return None if address == "local" else address
    return None


def storage_path(cfg: RayConfig, home: Home) -> str:
    """Where Ray Train / Tune write results: `ray.storage_path`, else <home>/ray_results."""
    return cfg.storage_path or str(home.ray_results_dir)


@dataclass
class RayHandle:
    """The Ray this process uses. `started_here`: this call ran `ray.init` (so `shutdown` undoes
    it); `local`: it also launched the Ray processes (an embedded Ray rather than a cluster)."""

    address: str
    dashboard_url: str | None
    started_here: bool
    node_count: int
    resources: dict[str, float] = field(default_factory=dict)
    local: bool = False
    storage_path: str | None = None

    def shutdown(self) -> None:
        """Stop the embedded Ray, or disconnect from a cluster; no-op for a Ray we found running."""
        import ray

        if self.started_here and ray.is_initialized():
            ray.shutdown()
            log.info("ray shut down (%s)", self.address)


def _describe(started_here: bool, local: bool, store: str | None) -> RayHandle:
    import ray

    try:  # no public API for the dashboard address of a running Ray
        from ray._private.worker import get_dashboard_url

        url = get_dashboard_url() or None
    except Exception:  # a missing dashboard is reported as None
        url = None
    if url and "://" not in url:
        url = f"http://{url}"
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return RayHandle(
        address=ray.get_runtime_context().gcs_address,
        dashboard_url=url,
        started_here=started_here,
        node_count=len(nodes),
        resources={k: float(v) for k, v in ray.cluster_resources().items()},
        local=local,
        storage_path=store,
    )


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of `host:port` or `ray://host[:port]`; None for forms like `auto`."""
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep:
        return (rest, _RAY_CLIENT_PORT) if address.startswith("ray://") else None
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        return None


def check_reachable(address: str) -> None:
    """Fail in seconds: `ray.init` retries an unreachable GCS for minutes before it gives up."""
    target = _host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=_CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        raise UserInputError(
            f"cannot connect to Ray at {address!r} ({e.strerror or e}); start one there with "
            "`ray start --head`, or leave out --address / RAY_ADDRESS to run a local Ray"
        ) from e


def _join(address: str) -> None:
    import ray

    check_reachable(address)
    target = _host_port(address)
    if target is not None and target[0] in _LOCALHOST:
        # Otherwise Ray dials this node's LAN IP instead, and a head that listens on loopback
        # only (a `ray start --head` with the switch at 0) keeps it retrying for minutes.
        _keep_loopback_ip()
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as e:
        hint = ""
        if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
            hint = (
                "; if the cluster uses token authentication, set RAY_AUTH_MODE=token and give "
                "its token (RAY_AUTH_TOKEN or ~/.ray/auth_token)"
            )
        raise UserInputError(f"cannot connect to Ray at {address!r}: {e}{hint}") from e


def _free_dashboard_port(port: int) -> int | None:
    """`port` if it is free on 127.0.0.1, else None: Ray then tries 8265 and the next 50 ports
    (given a port, Ray 2.60 fails outright if it is taken)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            log.warning("dashboard port %d is taken; Ray picks a free one from 8265 on", port)
            return None
    return port


def _start_local(cfg: RayConfig, dashboard: bool) -> None:
    apply_loopback_env()
    import ray

    store = cfg.object_store_memory_mb * 2**20 if cfg.object_store_memory_mb else None
    ray.init(
        address="local",
        num_cpus=cfg.num_cpus or os.cpu_count() or 1,
        num_gpus=cfg.num_gpus,  # None: Ray detects
        include_dashboard=dashboard,
        dashboard_host="127.0.0.1",
        dashboard_port=_free_dashboard_port(cfg.dashboard_port) if dashboard else None,
        object_store_memory=store,
        log_to_driver=False,
        configure_logging=True,
        logging_level=logging.WARNING,
    )


def start_ray(
    cfg: RayConfig,
    address: str | None = None,
    *,
    dashboard: bool | None = None,
    home: Path | Home | None = None,
) -> RayHandle:
    """Use the Ray already running in this process, join the cluster at `address`, or start a
    local Ray on 127.0.0.1. `address` is what `resolve_address` returned (None = local);
    `dashboard` overrides `cfg.include_dashboard`; `home` fills in `RayHandle.storage_path`.

    An unreachable `address` raises UserInputError (exit code 2) naming it.
    """
    import ray

    if home is not None and not isinstance(home, Home):
        home = Home(Path(home))
    store = storage_path(cfg, home) if home is not None else cfg.storage_path
    if ray.is_initialized():
        handle = _describe(started_here=False, local=False, store=store)
        if address and address != handle.address:
            log.warning(
                "Ray already runs in this process (%s); not joining %s", handle.address, address
            )
        return handle
    if address:
        _join(address)
        handle = _describe(started_here=True, local=False, store=store)
        log.info("joined Ray at %s: %d node(s)", address, handle.node_count)
        return handle
    want_dashboard = cfg.include_dashboard if dashboard is None else dashboard
    _start_local(cfg, want_dashboard)
    handle = _describe(started_here=True, local=True, store=store)
    if want_dashboard and handle.dashboard_url is None:
        log.warning("the Ray dashboard did not start (needs ray[default])")
    log.info("started local Ray: %s, dashboard %s", handle.resources, handle.dashboard_url)
    return handle


def current_node_id() -> str | None:
    """The Ray node id of this process (driver, task or actor); None when Ray is not running."""
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


def run_trivial_task(timeout_s: float = 60.0) -> Any:
    """Schedule one trivial task on the Ray this process uses and return its answer (42): a
    worker started, ran it and replied. The function travels by value (no package import)."""
    import ray

    return ray.get(ray.remote(lambda: 21 * 2).remote(), timeout=timeout_s)


def train_scaling_config(cfg: RayConfig) -> ScalingConfig:
    """`ray.train.ScalingConfig` from `ray.train` (GPU per worker is 1 if use_gpu and unset)."""
    from ray.train import ScalingConfig  # lazy: importing ray.train takes about a second

    t = cfg.train
    per_worker: dict[str, float] = {"CPU": t.cpus_per_worker}
    if t.use_gpu:
        per_worker["GPU"] = t.gpus_per_worker or 1.0
    return ScalingConfig(
        num_workers=t.num_workers, use_gpu=t.use_gpu, resources_per_worker=per_worker
    )
