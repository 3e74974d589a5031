"""`agent-forge models` and `agent-forge model ID --info | --load`."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from agent_forge.cli.common import (
    console,
    handle_errors,
    home_option,
    json_option,
    print_json,
    read_registry,
)
from agent_forge.core.home import Home
from agent_forge.core.phase_names import canonical_phase
from agent_forge.errors import UserInputError


@click.command()
@click.option("--phase", default=None, help="Only models of this phase.")
@click.option("--session", default=None, help="Only models of this session.")
@home_option
@json_option
@handle_errors
def models(phase: str | None, session: str | None, home: str | None, as_json: bool) -> None:
    """List registered models: metadata and checkpoint path."""
    registry = read_registry(Home.resolve(home))
    phase = canonical_phase(phase) if phase else None
    sid = registry.get_session(session)["session_id"] if session else None
    rows = registry.list_models(phase=phase, session_id=sid)
    if as_json:
        print_json(
            [
                {"model_id": r["model_id"], "path": r["path"], "metadata": r["metadata"]}
                for r in rows
            ]
        )
        return
    table = Table(title=f"Models ({len(rows)})")
    for col in ("model id", "phase", "specialization", "parameters", "size MiB", "created", "path"):
        table.add_column(col, overflow="fold")
    for r in rows:
        md = r["metadata"]
        table.add_row(
            r["model_id"],
            md["phase_name"],
            md.get("specialization") or "-",
            f"{md['parameters']:,}",
            f"{md['size_mb']:.2f}",
            md["created_at"][:19],
            r["path"],
        )
    console.print(table)


@click.command()
@click.argument("model_id")
@click.option("--info", "mode", flag_value="info", default=True, help="Show metadata (default).")
@click.option("--load", "mode", flag_value="load", help="Load it (hashes checked) and summarise.")
@click.option("--prompt", default=None, help="With --load: generate once from this prompt.")
@click.option("--max-new-tokens", default=32, show_default=True, type=click.IntRange(1, 4096))
@home_option
@json_option
@handle_errors
def model(
    model_id: str,
    mode: str,
    prompt: str | None,
    max_new_tokens: int,
    home: str | None,
    as_json: bool,
) -> None:
    """Show one model's metadata (--info) or load it and talk to it (--load)."""
    registry = read_registry(Home.resolve(home))
    row = registry.get_model(model_id)
    if prompt is not None:
        mode = "load"  # a prompt needs the model loaded
    if mode == "info":
        if as_json:
            print_json(
                {"model_id": row["model_id"], "path": row["path"], "metadata": row["metadata"]}
            )
        else:
            _print_info(row)
        return
    summary, generate = _load(row)
    if prompt is not None and generate is None:
        raise UserInputError(f"cannot generate: {summary['generation']}")
    if prompt is not None:
        summary["prompt"], summary["completion"] = prompt, generate(prompt, max_new_tokens)
    if as_json:
        print_json(summary)
        return
    for key, value in summary.items():
        console.print(f"[bold]{key}[/bold]: {value}", highlight=False)
    if prompt is None and generate is not None and _interactive():
        _chat(generate, max_new_tokens)


def _print_info(row: dict[str, Any]) -> None:
    table = Table(title=row["model_id"], show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("path", row["path"])
    for key, value in row["metadata"].items():
        table.add_row(key, str(value))
    console.print(table)


def _load(row: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Verify hashes, load with transformers, and return a summary plus a generate function."""
    from agent_forge.model.loading import load_for_generation

    return load_for_generation(row["path"], row["metadata"]["sha256"], row["model_id"])


def _interactive() -> bool:
    import sys

    return sys.stdin.isatty()


def _chat(generate: Any, max_new_tokens: int) -> None:
    console.print("Type a prompt (empty line or Ctrl-D to quit).")
    while True:
        try:
            text = input("> ")
        except (EOFError, KeyboardInterrupt):
            return
        if not text.strip():
            return
        console.print(generate(text, max_new_tokens), highlight=False)
