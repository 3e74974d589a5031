"""`agent-forge run`: the whole pipeline, one phase, or the rest of an interrupted session."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import click
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from agent_forge.cli.common import (
    config_options,
    console,
    fmt_duration,
    handle_errors,
    home_option,
    json_option,
    print_json,
    resolve_config,
)
from agent_forge.config import PipelineConfig
from agent_forge.core.home import Home
from agent_forge.core.phase_names import PHASE_SEQUENCE, canonical_phase
from agent_forge.core.session_file import process_alive, read_session_file
from agent_forge.errors import UserInputError


@click.command()
@config_options
@click.option("--phase", default=None, help="Run one phase only (canonical name or alias).")
@click.option("--input", "input_ids", multiple=True, metavar="MODEL_ID", help="Inputs for --phase.")
@click.option("--resume", default=None, metavar="SESSION_ID", help="Finish an interrupted session.")
@click.option(
    "--address", default=None, help="Ray cluster to join (else $RAY_ADDRESS, else local)."
)
@click.option("--no-dashboard", is_flag=True, help="Do not start the Ray dashboard.")
@home_option
@json_option
@handle_errors
def run(
    profile: str | None,
    config_file: str | None,
    overrides: tuple[str, ...],
    phase: str | None,
    input_ids: tuple[str, ...],
    resume: str | None,
    address: str | None,
    no_dashboard: bool,
    home: str | None,
    as_json: bool,
) -> None:
    """Run the pipeline (all phases in order, or --phase NAME, or --resume SESSION_ID)."""
    from agent_forge import phases as phase_table
    from agent_forge.pipeline import Pipeline

    forge_home = Home.resolve(home).ensure()
    if resume and (phase or input_ids or profile or config_file or overrides):
        raise UserInputError(
            "--resume uses the session's saved config and plan; drop the other options"
        )
    if input_ids and not phase:
        raise UserInputError("--input needs --phase")
    if resume:
        from agent_forge.core.registry import ModelRegistry

        sid = ModelRegistry(forge_home.registry_db).get_session(resume)["session_id"]
        record = read_session_file(forge_home, sid)
        if process_alive(record):
            pid = record["process"]["pid"]
            raise UserInputError(
                f"session {sid} is still running (process {pid}); not resuming it twice"
            )
        cfg = PipelineConfig.model_validate(record["config"])
    else:
        cfg = resolve_config(forge_home, profile, config_file, overrides)
    phase = canonical_phase(phase) if phase else None
    from agent_forge.runtime.ray_runtime import check_reachable, resolve_address

    if resolve_address(address, cfg.ray):
        check_reachable(resolve_address(address, cfg.ray))  # bad input, before any session exists

    def runtime_factory() -> Any:
        from agent_forge.runtime.ray_runtime import resolve_address, start_ray

        dash = cfg.ray.include_dashboard and not no_dashboard
        handle = start_ray(
            cfg.ray, resolve_address(address, cfg.ray), dashboard=dash, home=forge_home.root
        )
        if not as_json:
            url = handle.dashboard_url or "none"
            console.print(f"Ray: {handle.address} ({handle.node_count} node(s)), dashboard {url}")
        from agent_forge.runtime.jobs import check_train_resources

        try:
            check_train_resources(cfg)  # a GPU the cluster lacks: exit 2 now, not a wait forever
        except Exception:
            handle.shutdown()
            raise
        return handle

    # With --json, stdout carries the report alone: whatever else prints meanwhile (Ray forwards
    # its workers' and raylet's lines to the driver's stdout) goes to stderr.
    quiet = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    with quiet, _Progress(enabled=not as_json) as progress:
        pipeline = Pipeline(cfg, forge_home, phase_table.PHASES, runtime_factory, progress.on_event)
        report = pipeline.resume(resume) if resume else pipeline.run(phase, list(input_ids) or None)
    if as_json:
        print_json(report.to_json())
    else:
        _print_report(report, list(phase_table.PHASES.names()))
    sys.exit(report.exit_code)


class _Progress:
    """A rich progress bar over the phases of the plan, fed by the driver's events."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not enabled,
        )
        self.task: Any = None

    def __enter__(self) -> _Progress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def on_event(self, event: str, data: dict[str, Any]) -> None:
        if not self.enabled:
            return
        if event == "session":
            console.print(f"Session [bold]{data['session_id']}[/bold]")
            self.task = self.progress.add_task("pipeline", total=len(data["plan"]))
        elif event == "phase_start":
            self.progress.update(self.task, description=f"phase {data['phase']}")
        elif event == "phase_done":
            self.progress.advance(self.task)
        elif event == "phase_failed":
            self.progress.update(self.task, description=f"[red]phase {data['phase']} failed")
        elif event == "not_built":
            self.progress.update(
                self.task, description=f"[yellow]stopped: {data['phase']} not built"
            )


def _print_report(report: Any, built: list[str]) -> None:
    table = Table(title=f"Session {report.session_id}: {report.status}")
    for col in ("phase", "built", "this run", "duration", "key metric"):
        table.add_column(col)
    for name in PHASE_SEQUENCE:
        res = report.results.get(name)
        if res:
            done = "[yellow]fallback" if res.get("fallback") else "[green]completed"
            state, dur = done, fmt_duration(res["duration_seconds"])
            metric = next(iter(res["metrics"].items()), None)
            key = f"{metric[0]} = {metric[1]}" if metric else "-"
        elif name == report.failed_phase:
            state, dur, key = "[red]failed", "-", report.error or "-"
        elif name in report.not_built:
            state, dur, key = "[yellow]not built", "-", "-"
        else:
            state, dur, key = "not run", "-", "-"
        table.add_row(name, "yes" if name in built else "no", state, dur, key)
    console.print(table)
    for name, why in report.fallbacks.items():
        console.print(
            f"[yellow]Phase {name}: gate failed, fallback used: {why}[/yellow]", soft_wrap=True
        )
    if report.not_built:
        console.print(
            f"[yellow]Not built yet: {', '.join(report.not_built)}. "
            f"The session is '{report.status}', not completed.[/yellow]"
        )
    if report.failed_phase:
        console.print(
            f"[red]Phase {report.failed_phase} failed: {report.error}[/red]", soft_wrap=True
        )
        console.print(f"Resume with: agent-forge run --resume {report.session_id}", soft_wrap=True)
