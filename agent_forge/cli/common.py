"""Shared CLI plumbing: options, config loading, JSON output, and error -> exit code mapping.

Exit codes: 0 ok, 1 a phase (or a check) failed, 2 bad input.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from agent_forge.config import PipelineConfig
from agent_forge.config.loader import load_home_config
from agent_forge.core.home import Home
from agent_forge.core.registry import ModelRegistry
from agent_forge.errors import ForgeError

console = Console()
err_console = Console(stderr=True)


def home_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--home",
        "home",
        type=click.Path(file_okay=False),
        default=None,
        help="Home directory (else $AGENT_FORGE_HOME, else ./forge_home).",
    )(f)


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(f)


def config_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override one config key, e.g. --set run.seed=7 (repeatable).",
    )(f)
    f = click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        default=None,
        help="YAML file laid over the profile (default: <home>/config.yaml if it exists).",
    )(f)
    return click.option(
        "--profile", default=None, help="Config profile: tiny (default, CPU) or consumer-gpu."
    )(f)


def resolve_config(
    home: Home, profile: str | None, config_file: str | None, overrides: tuple[str, ...]
) -> PipelineConfig:
    return load_home_config(home.root, profile, config_file, overrides)


def read_registry(home: Home) -> ModelRegistry:
    """The home's registry for read-only commands; an empty in-memory one (nothing created on
    disk) when the home has none yet."""
    if home.registry_db.is_file():
        return ModelRegistry(home.registry_db)
    return ModelRegistry(":memory:")


def print_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, default=_json_default))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_json"):
        return obj.to_json()
    return str(obj)


def handle_errors(f: Callable[..., Any]) -> Callable[..., Any]:
    """Map ForgeError to its exit code with a one-line message naming what was wrong."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except ForgeError as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)

    return wrapper


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def load_model_ref(home: Home, ref: str) -> tuple[str, Any, Any]:
    """(label, model, tokenizer) of a registered model id (weight hashes checked) or of a
    checkpoint folder with config.json and tokenizer.json; exit 2 for an unknown id or a
    folder without a tokenizer."""
    from transformers import AutoModelForCausalLM

    import agent_forge._auto_register  # noqa: F401  (model_type "cognate")
    from agent_forge.core.storage import verify_weights
    from agent_forge.model.tokenizer import load_tokenizer

    folder = Path(ref)
    if (folder / "config.json").is_file():
        path, label = folder, str(folder)
    else:
        row = read_registry(home).get_model(ref)
        path, label = Path(row["path"]), row["model_id"]
        verify_weights(path, row["metadata"]["sha256"])
    tok = load_tokenizer(path)  # DataFileError (exit 2) when the folder has none
    return label, AutoModelForCausalLM.from_pretrained(path).eval(), tok
