"""`agent-forge monitor`: the Streamlit dashboard on 127.0.0.1 and the Ray dashboard, until Ctrl-C.

The dashboard runs as a `streamlit run` child process (its own process group, so it is this
command that stops it, once); Ray is joined (`--address`, $RAY_ADDRESS, `ray.address`) or started
locally with its dashboard on. Ctrl-C or SIGTERM stops both: Streamlit gets SIGTERM (SIGKILL
after a grace period), then an embedded Ray is shut down.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any

import click

import agent_forge
from agent_forge.cli.common import (
    config_options,
    console,
    handle_errors,
    home_option,
    json_option,
    resolve_config,
)
from agent_forge.core.home import Home
from agent_forge.errors import ForgeError, UserInputError

# A file path, not an import: nothing imports the dashboard (ARCHITECTURE.md §2).
APP = Path(agent_forge.__file__).parent / "dashboard" / "app.py"
HOST = "127.0.0.1"
STOP_GRACE_S = 10.0


class DashboardError(ForgeError):
    """The dashboard process did not come up (exit code 1)."""

    exit_code = 1


@click.command()
@click.option(
    "--port",
    default=8501,
    show_default=True,
    type=click.IntRange(1024, 65535),
    help="Port of the dashboard on 127.0.0.1.",
)
@click.option("--address", default=None, help="Ray cluster (else $RAY_ADDRESS, else a local Ray).")
@click.option("--no-ray", is_flag=True, help="Start the dashboard only; no Ray.")
@click.option(
    "--startup-timeout",
    default=90.0,
    show_default=True,
    type=click.FloatRange(1),
    help="Seconds to wait for the dashboard to answer.",
)
@click.option("--duration", default=None, type=click.FloatRange(0), help="Stop after S seconds.")
@config_options
@home_option
@json_option
@handle_errors
def monitor(
    port: int,
    address: str | None,
    no_ray: bool,
    startup_timeout: float,
    duration: float | None,
    profile: str | None,
    config_file: str | None,
    overrides: tuple[str, ...],
    home: str | None,
    as_json: bool,
) -> None:
    """Serve the dashboard on 127.0.0.1:PORT, print its URL and the Ray dashboard's; Ctrl-C stops
    both. With --json, one JSON line with the URLs once the dashboard answers."""
    forge_home = Home.resolve(home)
    cfg = resolve_config(forge_home, profile, config_file, overrides)
    _check_port_free(port)
    handle = None
    proc: subprocess.Popen[bytes] | None = None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if not no_ray:
            from agent_forge.runtime.ray_runtime import resolve_address, start_ray

            handle = start_ray(cfg.ray, resolve_address(address, cfg.ray), dashboard=True)
        # After ray.init, which installs a SIGTERM handler of its own; SIGINT is set explicitly
        # because a shell starts background jobs with it ignored.
        for sig in previous:
            signal.signal(sig, _raise_interrupt)
        ray_url = handle.dashboard_url if handle else None
        proc, log_path = _start_streamlit(forge_home, port, ray_url)
        url = f"http://{HOST}:{port}"
        _wait_healthy(proc, url, startup_timeout, log_path)
        info = {
            "dashboard_url": url,
            "ray_dashboard_url": ray_url,
            "ray_address": handle.address if handle else None,
            "home": str(forge_home.root),
            "pid": proc.pid,
        }
        if as_json:
            click.echo(json.dumps(info))
        else:
            console.print(f"Dashboard: {url}", highlight=False)
            console.print(f"Ray dashboard: {ray_url or 'not running'}", highlight=False)
            console.print(f"Home: {forge_home.root}  (Ctrl-C to stop)", highlight=False)
        sys.stdout.flush()
        _serve(proc, duration, log_path)
    except KeyboardInterrupt:
        pass
    finally:
        if proc is not None:
            _stop(proc)
        if handle is not None:
            handle.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not as_json:
        console.print("stopped")


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _check_port_free(port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind((HOST, port))
        except OSError as e:
            raise UserInputError(
                f"port {port} on {HOST} is in use ({e.strerror}); choose another with --port"
            ) from e


def _start_streamlit(
    home: Home, port: int, ray_url: str | None
) -> tuple[subprocess.Popen[bytes], Path]:
    """`streamlit run` of the app, bound to 127.0.0.1, its output in a temporary log file (the
    home is read-only to the dashboard)."""
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        HOST,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--server.fileWatcherType",
        "none",
        "--",
        "--home",
        str(home.root),
    ]
    if ray_url:
        cmd += ["--ray-dashboard", ray_url]
    env = os.environ | {"AGENT_FORGE_HOME": str(home.root), "STREAMLIT_TELEMETRY": "false"}
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"agent-forge-dashboard-{port}.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C reaches us only; we stop it, once
        )
    return proc, log_path


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DashboardError(f"the dashboard exited with code {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise DashboardError(f"the dashboard did not answer at {url} within {timeout:.0f} s")


def _serve(proc: subprocess.Popen[bytes], duration: float | None, log: Path) -> None:
    end = None if duration is None else time.monotonic() + duration
    while end is None or time.monotonic() < end:
        if proc.poll() is not None:
            raise DashboardError(f"the dashboard exited with code {proc.returncode}:\n{_tail(log)}")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM to the dashboard's process group, SIGKILL after STOP_GRACE_S."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
