"""`agent-forge status`, `phases` and `logs`: read the registry and the run logs."""

from __future__ import annotations

import time
from typing import Any

import click
from rich.table import Table

from agent_forge.cli.common import (
    console,
    fmt_duration,
    handle_errors,
    home_option,
    json_option,
    print_json,
    read_registry,
)
from agent_forge.core.home import Home
from agent_forge.core.phase_names import (
    PHASE_ALIASES,
    PHASE_SEQUENCE,
    PHASE_TITLES,
    canonical_phase,
)
from agent_forge.core.registry import ModelRegistry
from agent_forge.core.run_log import phase_of_line, tag_lines
from agent_forge.errors import NotFoundError
from agent_forge.session_status import built_phases as _built
from agent_forge.session_status import session_status


def _session(registry: ModelRegistry, session: str | None) -> dict[str, Any] | None:
    return registry.get_session(session) if session else registry.latest_session()


@click.command()
@click.option("--session", default=None, help="Session id (or a unique prefix); default: latest.")
@home_option
@json_option
@handle_errors
def status(session: str | None, home: str | None, as_json: bool) -> None:
    """Show a session's status: each phase, its duration and key metric."""
    forge_home = Home.resolve(home)
    registry = read_registry(forge_home)
    row = _session(registry, session)
    if row is None:
        if as_json:
            print_json({"session": None})
        else:
            console.print("No sessions yet. Start one with: agent-forge run")
        return
    info = session_status(forge_home, registry, row)
    if as_json:
        print_json(info)
        return
    table = Table(title=f"Session {info['session_id']} ({info['profile']}): {info['status']}")
    for col in ("phase", "status", "duration", "attempts", "key metric / error"):
        table.add_column(col)
    for p in info["phases"]:
        km = p["key_metric"]
        detail = p["error"] or (f"{km['key']} = {km['value']:.4g}" if km else "-")
        state = p["status"]
        if p["fallback"]:
            state, detail = f"{state} (fallback)", f"gate failed, fallback: {p['fallback']}"
        table.add_row(
            p["phase_name"],
            state,
            fmt_duration(p["duration_seconds"]),
            str(p["attempts"]),
            detail,
        )
    console.print(table)
    if info["status"] == "interrupted":
        console.print(
            f"Interrupted. Resume with: agent-forge run --resume {info['session_id']}",
            soft_wrap=True,
        )


@click.command()
@home_option
@json_option
@handle_errors
def phases(home: str | None, as_json: bool) -> None:
    """List the 8 phases: built or not, and their status in the latest session."""
    forge_home = Home.resolve(home)
    registry = read_registry(forge_home)
    latest = registry.latest_session()
    statuses = {}
    if latest:
        info = session_status(forge_home, registry, latest)
        statuses = {p["phase_name"]: p["status"] for p in info["phases"]}
    built = _built()
    aliases = {v: k for k, v in PHASE_ALIASES.items()}
    rows = [
        {
            "index": i + 1,
            "phase_name": n,
            "built": n in built,
            "title": PHASE_TITLES[n],
            "alias": aliases.get(n),
            "latest_session_status": statuses.get(n),
        }
        for i, n in enumerate(PHASE_SEQUENCE)
    ]
    if as_json:
        print_json({"latest_session": latest["session_id"] if latest else None, "phases": rows})
        return
    table = Table(title="Phases")
    for col in ("#", "phase", "built", "latest session", "what it does"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["index"]),
            r["phase_name"],
            "yes" if r["built"] else "[yellow]not yet",
            r["latest_session_status"] or "-",
            r["title"],
        )
    console.print(table)


@click.command()
@click.option("--session", default=None, help="Session id (or a unique prefix); default: latest.")
@click.option("--phase", default=None, help="Only this phase's lines.")
@click.option("--lines", "-n", default=50, show_default=True, help="Last N lines.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@home_option
@json_option
@handle_errors
def logs(
    session: str | None,
    phase: str | None,
    lines: int,
    follow: bool,
    home: str | None,
    as_json: bool,
) -> None:
    """Print a session's run log (optionally one phase's), or follow it."""
    forge_home = Home.resolve(home)
    registry = read_registry(forge_home)
    row = _session(registry, session)
    if row is None:
        raise NotFoundError("no sessions yet: nothing to show")
    phase = canonical_phase(phase) if phase else None
    path = forge_home.log_file(row["session_id"])
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    selected = [ln for tag, ln in tag_lines(text.splitlines()) if phase is None or tag == phase]
    selected = selected[-lines:] if lines > 0 else selected
    if as_json:
        print_json(
            {
                "session_id": row["session_id"],
                "path": str(path),
                "lines": [{"phase": phase_of_line(ln), "text": ln} for ln in selected],
            }
        )
        return
    for ln in selected:
        click.echo(ln)
    if follow:
        _follow(path, phase, len(text.encode("utf-8")))


def _follow(path: Any, phase: str | None, offset: int) -> None:
    current: str | None = None
    try:
        while True:
            if path.is_file() and path.stat().st_size > offset:
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    raw = fh.read()
                offset += len(raw)
                chunk = raw.decode("utf-8", errors="replace")
                for tag, ln in tag_lines(chunk.splitlines(), current):
                    current = tag
                    if phase is None or tag == phase:
                        click.echo(ln)
            time.sleep(0.5)
    except KeyboardInterrupt:
        return
