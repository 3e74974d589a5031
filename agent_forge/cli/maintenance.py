"""`agent-forge clean`, `export` and `validate`."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from agent_forge.cli.common import (
    config_options,
    console,
    handle_errors,
    home_option,
    json_option,
    print_json,
    read_registry,
    resolve_config,
)
from agent_forge.core.home import Home
from agent_forge.core.registry import ModelRegistry
from agent_forge.core.storage import verify_weights
from agent_forge.errors import UserInputError


@click.command()
@click.option("--dry-run", is_flag=True, help="Show what would be removed; remove nothing.")
@config_options
@home_option
@json_option
@handle_errors
def clean(
    dry_run: bool,
    profile: str | None,
    config_file: str | None,
    overrides: tuple[str, ...],
    home: str | None,
    as_json: bool,
) -> None:
    """Remove old sessions (completed > 30 days, failed > 7, beyond 100) and leftovers."""
    from agent_forge.core.cleanup import apply_cleanup, plan_cleanup

    forge_home = Home.resolve(home)
    cfg = resolve_config(forge_home, profile, config_file, overrides)
    registry = read_registry(forge_home)
    plan = plan_cleanup(registry, forge_home, cfg.registry)
    if not dry_run:
        apply_cleanup(registry, plan)
    if as_json:
        print_json({"dry_run": dry_run, "removed" if not dry_run else "would_remove": plan})
        return
    table = Table(title=("Would remove" if dry_run else "Removed") + f" ({len(plan)})")
    for col in ("session", "reason", "path"):
        table.add_column(col, overflow="fold")
    for item in plan:
        table.add_row(
            str(item.get("session_id") or "-"), item["reason"], str(item.get("path") or "-")
        )
    console.print(table)


@click.command()
@click.argument("session")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="New folder."
)
@click.option("--with-weights", is_flag=True, help="Also copy each model's weights.")
@home_option
@json_option
@handle_errors
def export(session: str, out_dir: str, with_weights: bool, home: str | None, as_json: bool) -> None:
    """Export a session: its record, metrics, model cards (and weights with --with-weights)."""
    forge_home = Home.resolve(home)
    registry = read_registry(forge_home)
    row = registry.get_session(session)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise UserInputError(f"--out {out} exists and is not empty")
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent if out.parent.exists() else None))
    try:
        summary = _write_export(forge_home, registry, row, tmp, with_weights)
        if out.exists():
            out.rmdir()
        shutil.move(str(tmp), str(out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary["out"] = str(out)
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"Exported session {row['session_id']} to {out}: "
            f"{summary['models']} model(s), {summary['metrics']} metric rows"
        )


def _write_export(
    home: Home, registry: ModelRegistry, row: dict[str, Any], out: Path, with_weights: bool
) -> dict[str, Any]:
    sid = row["session_id"]
    record = {"session": row, "phases": registry.get_phases(sid)}
    src = home.session_dir(sid)
    if (src / "session.json").is_file():
        record["session_file"] = json.loads((src / "session.json").read_text(encoding="utf-8"))
    (out / "session.json").write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    if home.metrics_file(sid).is_file():
        shutil.copy2(home.metrics_file(sid), out / "metrics.jsonl")
    if home.log_file(sid).is_file():
        shutil.copy2(home.log_file(sid), out / "run.log")
    models = registry.list_models(session_id=sid)
    for m in models:
        dest = out / "models" / m["model_id"]
        dest.mkdir(parents=True)
        (dest / "README.md").write_text(model_card(m), encoding="utf-8")
        (dest / "metadata.json").write_text(json.dumps(m["metadata"], indent=2), encoding="utf-8")
        if with_weights:
            verify_weights(m["path"], m["metadata"]["sha256"])  # never export corrupt weights
            for f in Path(m["path"]).iterdir():
                if f.is_file():
                    shutil.copy2(f, dest / f.name)
    n_metrics = len(registry.get_metrics(sid))
    return {"session_id": sid, "models": len(models), "metrics": n_metrics, "weights": with_weights}


def model_card(m: dict[str, Any]) -> str:
    md = m["metadata"]
    lines = [
        f"# {m['model_id']}",
        "",
        f"- phase: {md['phase_name']}",
        f"- session: {md['session_id']}",
        f"- created: {md['created_at']}",
        f"- parameters: {md['parameters']:,}",
        f"- size: {md['size_mb']:.2f} MiB (bytes on disk)",
    ]
    if md.get("specialization"):
        lines.append(f"- specialization: {md['specialization']}")
    lines += ["", "## Metrics (measured in the run that made it)", ""]
    metrics = md.get("metrics") or {}
    lines += [f"- {k}: {v}" for k, v in metrics.items()] or ["- none recorded"]
    lines += ["", "## Files (sha256)", ""]
    lines += [f"- {name}: `{digest}`" for name, digest in md["sha256"].items()]
    return "\n".join(lines) + "\n"


@click.command()
@config_options
@home_option
@json_option
@handle_errors
def validate(
    profile: str | None,
    config_file: str | None,
    overrides: tuple[str, ...],
    home: str | None,
    as_json: bool,
) -> None:
    """Check this machine: imports, Ray, registry, W&B offline, disk, GPU."""
    from agent_forge.cli.system_checks import run_checks

    forge_home = Home.resolve(home)
    cfg = resolve_config(forge_home, profile, config_file, overrides)
    checks = run_checks(cfg, forge_home)
    failed = [c for c in checks if c["status"] == "fail"]
    if as_json:
        print_json({"ok": not failed, "checks": checks})
    else:
        table = Table(title="agent-forge validate")
        for col in ("check", "status", "detail"):
            table.add_column(col, overflow="fold")
        colour = {"pass": "green", "fail": "red", "absent": "yellow"}
        for c in checks:
            table.add_row(c["name"], f"[{colour[c['status']]}]{c['status']}", c["detail"])
        console.print(table)
    raise SystemExit(1 if failed else 0)
