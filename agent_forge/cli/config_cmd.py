"""`agent-forge config`: print, validate or edit the effective configuration."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from agent_forge.cli.common import (
    config_options,
    console,
    err_console,
    handle_errors,
    home_option,
    json_option,
    print_json,
    resolve_config,
)
from agent_forge.config import config_to_yaml
from agent_forge.config.loader import USER_CONFIG_NAME, load_config, user_config_text
from agent_forge.core.home import Home
from agent_forge.core.storage import atomic_write_text
from agent_forge.errors import ForgeError, UserInputError


@click.command("config")
@config_options
@click.option(
    "--validate",
    "validate_file",
    is_flag=False,
    flag_value="-",
    default=None,
    metavar="[FILE]",
    help="Validate FILE (or the effective config) and exit 0 if valid, 2 if not.",
)
@click.option("--edit", is_flag=True, help="Open $EDITOR on a copy; save it only if valid.")
@home_option
@json_option
@handle_errors
def config_cmd(
    profile: str | None,
    config_file: str | None,
    overrides: tuple[str, ...],
    validate_file: str | None,
    edit: bool,
    home: str | None,
    as_json: bool,
) -> None:
    """Print the effective config (profile < --config < --set), validate it, or edit it."""
    forge_home = Home.resolve(home)
    if edit:
        _edit(forge_home, profile, config_file)
        return
    if validate_file not in (None, "-"):
        cfg = load_config(profile=profile, config_file=validate_file, overrides=list(overrides))
    else:
        cfg = resolve_config(forge_home, profile, config_file, overrides)
    if validate_file is not None:
        if as_json:
            print_json({"valid": True, "profile": cfg.profile})
        else:
            console.print(f"[green]valid[/green] (profile {cfg.profile})")
        return
    if as_json:
        print_json(cfg.model_dump(mode="json"))
    else:
        click.echo(config_to_yaml(cfg), nl=False)


def _edit(home: Home, profile: str | None, config_file: str | None) -> None:
    """Edit a temporary copy; validate; only then replace the target file atomically.

    A new file starts from the full effective config, but only the keys that differ from the
    profile are saved, so a later `--profile` still changes everything the user did not set.
    """
    target = Path(config_file) if config_file else home.root / USER_CONFIG_NAME
    existed = target.is_file()
    text = target.read_text(encoding="utf-8") if existed else config_to_yaml(load_config(profile))
    cmd = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
    if shutil.which(cmd[0]) is None:
        raise UserInputError(f"editor {cmd[0]!r} not found; set $EDITOR")
    fd, tmp = tempfile.mkstemp(prefix="agent-forge-config-", suffix=".yaml")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    if subprocess.call([*cmd, tmp]) != 0:
        raise UserInputError(f"editor exited with an error; nothing saved (your copy: {tmp})")
    try:
        edited = load_config(config_file=tmp)
    except ForgeError as exc:
        err_console.print(
            f"[red]not saved:[/red] {exc}\nYour edited copy is kept at {tmp}", soft_wrap=True
        )
        sys.exit(2)
    if not existed:
        header = (
            "# Saved by `agent-forge config --edit`: only the keys that differ from the profile.\n"
        )
        text = user_config_text(edited, header)
    else:
        text = Path(tmp).read_text(encoding="utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, text)
    os.unlink(tmp)
    console.print(f"[green]saved[/green] {target}")
