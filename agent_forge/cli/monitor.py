"""`agent-forge monitor`: the Ray dashboard URL and a live resource table until Ctrl-C."""

from __future__ import annotations

import time
from typing import Any

import click
from rich.live import Live
from rich.table import Table

from agent_forge.cli.common import (
    config_options,
    console,
    handle_errors,
    home_option,
    json_option,
    print_json,
    resolve_config,
)
from agent_forge.core.home import Home


@click.command()
@click.option("--address", default=None, help="Ray cluster (else $RAY_ADDRESS, else a local Ray).")
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(0.1, 3600))
@click.option("--duration", default=None, type=click.FloatRange(0), help="Stop after S seconds.")
@config_options
@home_option
@json_option
@handle_errors
def monitor(
    address: str | None,
    interval: float,
    duration: float | None,
    profile: str | None,
    config_file: str | None,
    overrides: tuple[str, ...],
    home: str | None,
    as_json: bool,
) -> None:
    """Print the Ray dashboard URL and a live CPU/RAM/GPU table (Ctrl-C to stop)."""
    from agent_forge.core.compute import ResourceMonitor
    from agent_forge.runtime.ray_runtime import resolve_address, start_ray

    forge_home = Home.resolve(home)
    cfg = resolve_config(forge_home, profile, config_file, overrides)
    mon = ResourceMonitor(interval)  # CPU % of the first sample covers the Ray start-up
    handle = start_ray(cfg.ray, resolve_address(address, cfg.ray), dashboard=True)
    try:
        if as_json:
            print_json(
                {
                    "ray_address": handle.address,
                    "ray_dashboard_url": handle.dashboard_url,
                    "nodes": handle.node_count,
                    "sample": mon.sample(),
                }
            )
            return
        console.print(f"Ray dashboard: {handle.dashboard_url or 'not running'}  (Ctrl-C to stop)")
        _live(mon, interval, duration)
    finally:
        handle.shutdown()


def _live(mon: Any, interval: float, duration: float | None) -> None:
    end = time.monotonic() + duration if duration is not None else None
    try:
        with Live(_table(mon.sample()), console=console, refresh_per_second=4) as live:
            while end is None or time.monotonic() < end:
                time.sleep(
                    interval if end is None else min(interval, max(0.0, end - time.monotonic()))
                )
                live.update(_table(mon.sample()))
    except KeyboardInterrupt:
        pass


def _table(sample: dict[str, Any]) -> Table:
    table = Table(title=time.strftime("Resources at %H:%M:%S"))
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in sample.items():
        if key.startswith("system/"):
            text = (
                "-"
                if value is None
                else (f"{value:.1f}" if isinstance(value, float) else str(value))
            )
            table.add_row(key.removeprefix("system/"), text)
    return table
