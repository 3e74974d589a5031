"""`agent-forge merge RECIPE.yaml --out DIR`: apply a merge recipe (ours, or a mergekit config
that uses a method we have) to registered models or checkpoint folders, in memory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from agent_forge.cli.common import (
    console,
    handle_errors,
    home_option,
    json_option,
    load_model_ref,
    print_json,
)
from agent_forge.core.errors import DataFileError, UserInputError
from agent_forge.core.home import Home

RECIPE_FILE = "mergekit_config.yml"  # the name mergekit gives the recipe inside its output


@click.command("merge")
@click.argument("recipe_file", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="New model folder.")
@home_option
@json_option
@handle_errors
def merge_cmd(recipe_file: str, out: str, home: str | None, as_json: bool) -> None:
    """Merge the recipe's models (registry ids or HF checkpoint folders) and write an HF
    checkpoint (safetensors, config, tokenizer of the first model, the recipe) to --out."""
    from agent_forge.merging.recipe import load_recipe

    path = Path(recipe_file)
    if not path.is_file():
        raise DataFileError(str(path), "recipe file not found")
    recipe = load_recipe(path.read_text(encoding="utf-8"))  # ConfigError names the key
    out_dir = Path(out)
    if out_dir.exists():
        raise UserInputError(f"{out_dir}: already exists; merge writes a new folder")
    root = Home.resolve(home)
    start = time.perf_counter()
    parents = [load_model_ref(root, ref) for ref in recipe.models]
    base = load_model_ref(root, recipe.base_model) if recipe.base_model else None
    method, kwargs = recipe.merge_kwargs()
    model = _merged_model(method, kwargs, parents, base)
    _write(model, parents[0][2], recipe.to_yaml(), out_dir)
    summary: dict[str, Any] = {
        "out": str(out_dir),
        "merge_method": recipe.merge_method,
        "method": method,
        "parameters": kwargs,
        "models": [p[0] for p in parents],
        "base_model": base[0] if base else None,
        "num_hidden_layers": model.config.num_hidden_layers,
        "seconds": round(time.perf_counter() - start, 2),
    }
    if as_json:
        print_json(summary)
        return
    for key, value in summary.items():
        console.print(f"[bold]{key}[/bold]: {value}", highlight=False)


def _merged_model(
    method: str, kwargs: dict[str, Any], parents: list[Any], base: Any | None
) -> Any:
    """Merge the parents' state dicts and load the result into a model of parent 0's config
    (with the new depth for dfs)."""
    import copy

    from transformers import AutoModelForCausalLM

    from agent_forge.merging import count_layers, merge_state_dicts

    sds = [p[1].state_dict() for p in parents]
    try:
        merged = merge_state_dicts(
            method, sds, base=base[1].state_dict() if base else None, **kwargs
        )
    except ValueError as exc:  # shapes, parameters, a missing base: the recipe's fault
        raise UserInputError(f"cannot merge: {exc}") from exc
    config = copy.deepcopy(parents[0][1].config)
    config.num_hidden_layers = count_layers(merged)
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(merged)  # strict: every key, tied head included
    return model.eval()


def _write(model: Any, tokenizer: Any, recipe_yaml: str, out_dir: Path) -> None:
    from agent_forge.core.storage import save_model_dir

    def writer(d: Path) -> None:
        model.save_pretrained(d)
        tokenizer.save_pretrained(d)
        (d / RECIPE_FILE).write_text(recipe_yaml, encoding="utf-8")

    save_model_dir(out_dir, writer)  # atomic: nothing appears at out_dir on failure
