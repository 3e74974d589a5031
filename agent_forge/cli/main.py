"""The `agent-forge` command. One module per command group; each command documents itself."""

from __future__ import annotations

import logging
import os

import click

from agent_forge import __version__
from agent_forge.cli.config_cmd import config_cmd
from agent_forge.cli.eval_cmd import eval_cmd
from agent_forge.cli.maintenance import clean, export, validate
from agent_forge.cli.merge_cmd import merge_cmd
from agent_forge.cli.models import model, models
from agent_forge.cli.monitor import monitor
from agent_forge.cli.run import run
from agent_forge.cli.status import logs, phases, status


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="agent-forge")
@click.option("-v", "--verbose", is_flag=True, help="Log INFO to the terminal.")
def cli(verbose: bool) -> None:
    """Agent Forge: make small language models, every step measured, gated and resumable."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # the run log may lower the root level to INFO;
        handler.setLevel(level)  # the terminal keeps the level asked for


for command in (
    run,
    status,
    phases,
    config_cmd,
    eval_cmd,
    merge_cmd,
    models,
    model,
    logs,
    clean,
    export,
    validate,
    monitor,
):
    cli.add_command(command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
