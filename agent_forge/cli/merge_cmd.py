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
from agent_forge.core.home import Home
from agent_forge.errors import DataFileError, UserInputError

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
    from agent_forge.merging.multistage import references
    from agent_forge.merging.recipe import load_recipes

    path = Path(recipe_file)
    if not path.is_file():
        raise DataFileError(str(path), "recipe file not found")
    recipes = load_recipes(path.read_text(encoding="utf-8"))  # ConfigError names the key
    out_dir = Path(out)
    if out_dir.exists():
        raise UserInputError(f"{out_dir}: already exists; merge writes a new folder")
    root = Home.resolve(home)
    start = time.perf_counter()
    loaded = {ref: load_model_ref(root, ref) for ref in references(recipes)}
    model = _merged_model(recipes, loaded)
    first = loaded[references(recipes)[0]]
    _write(model, first[2], "---\n".join(r.to_yaml() for r in recipes), out_dir)
    last = recipes[-1]
    method, kwargs = last.merge_kwargs()
    summary: dict[str, Any] = {
        "out": str(out_dir),
        "merge_method": last.merge_method,
        "method": method,
        "parameters": kwargs,
        "stages": [r.name or r.merge_method for r in recipes],
        "models": [loaded[r][0] for r in references(recipes)],
        "base_model": loaded[last.base_model][0] if last.base_model in loaded else None,
        "num_hidden_layers": model.config.num_hidden_layers,
        "seconds": round(time.perf_counter() - start, 2),
    }
    if as_json:
        print_json(summary)
        return
    for key, value in summary.items():
        console.print(f"[bold]{key}[/bold]: {value}", highlight=False)


def _merged_model(recipes: list[Any], loaded: dict[str, Any]) -> Any:
    """Apply the recipes in order (mergekit-mega: named results feed later documents) and load
    the result into a model of the first model's config (with the new depth for dfs)."""
    import copy

    from transformers import AutoModelForCausalLM

    from agent_forge.merging import count_layers
    from agent_forge.merging.multistage import apply_recipes
    from agent_forge.runtime.model_holder import load_weights

    sds = {ref: m[1].state_dict() for ref, m in loaded.items()}
    try:
        merged = apply_recipes(recipes, sds)
    except ValueError as exc:  # shapes, parameters, a missing base: the recipe's fault
        raise UserInputError(f"cannot merge: {exc}") from exc
    config = copy.deepcopy(next(iter(loaded.values()))[1].config)
    config.num_hidden_layers = count_layers(merged)
    model = AutoModelForCausalLM.from_config(config)
    load_weights(model, merged)  # every key; a tied head may come once
    return model.eval()


def _write(model: Any, tokenizer: Any, recipe_yaml: str, out_dir: Path) -> None:
    from agent_forge.core.storage import save_model_dir

    def writer(d: Path) -> None:
        model.save_pretrained(d)
        tokenizer.save_pretrained(d)
        (d / RECIPE_FILE).write_text(recipe_yaml, encoding="utf-8")

    save_model_dir(out_dir, writer)  # atomic: nothing appears at out_dir on failure
