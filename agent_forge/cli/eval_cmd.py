"""`agent-forge eval MODEL_ID [--suite NAME ...] [--benchmarks-dir DIR] [--json]`, and
`agent-forge eval --list`.
"""

from __future__ import annotations

import contextlib
import math
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from agent_forge.cli.common import (
    config_options,
    console,
    err_console,
    handle_errors,
    home_option,
    json_option,
    load_model_ref,
    print_json,
    resolve_config,
)
from agent_forge.config import PipelineConfig
from agent_forge.core.home import Home
from agent_forge.errors import DataFileError, UserInputError


@click.command("eval")
@click.argument("model_id", required=False)
@click.option("--suite", "suites", multiple=True, help="Suite to score (repeatable); see --list.")
@click.option("--list", "list_only", is_flag=True, help="List the suites and exit.")
@click.option(
    "--benchmarks-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder of public benchmark files (else eval.benchmarks_dir).",
)
@click.option("--limit", type=click.IntRange(1), default=None, help="At most N items per suite.")
@click.option(
    "--shards",
    type=click.IntRange(0),
    default=None,
    help="Score in N Ray tasks (0 = in this process; else eval.shards).",
)
@click.option(
    "--baseline",
    default=None,
    help="Also score this model (id or folder) and judge retention against it with the gate.",
)
@click.option(
    "--stage", default="default", show_default=True, help="Gate thresholds of this stage."
)
@click.option("--groups", "with_groups", is_flag=True, help="Also a row per level / domain group.")
@click.option("--address", default=None, help="Ray cluster for --shards (else a local Ray).")
@click.option(
    "--items", "with_items", is_flag=True, help="With --json: every item's score and output."
)
@config_options
@home_option
@json_option
@handle_errors
def eval_cmd(
    model_id: str | None,
    suites: tuple[str, ...],
    list_only: bool,
    benchmarks_dir: str | None,
    limit: int | None,
    shards: int | None,
    baseline: str | None,
    stage: str,
    with_groups: bool,
    address: str | None,
    with_items: bool,
    profile: str | None,
    config_file: str | None,
    overrides: tuple[str, ...],
    home: str | None,
    as_json: bool,
) -> None:
    """Score a registered model (or an HF checkpoint folder) on evaluation suites: a table of
    scores with 95% confidence intervals, the chance level and whether the score clears it.
    With --baseline: retention against that model and the quality gate's verdict (exit 1
    unless it passes)."""

    if list_only:
        _print_list(as_json)
        return
    if model_id is None:
        raise UserInputError("give a MODEL_ID (see `agent-forge models`) or --list")
    root = Home.resolve(home)
    cfg = resolve_config(root, profile, config_file, overrides)
    built, (label, model, tok), base = _prepare(
        root, cfg, model_id, baseline, list(suites or cfg.eval.suites), benchmarks_dir, limit
    )
    n_shards = cfg.eval.shards if shards is None else shards
    # With --json, stdout carries the report alone (Ray forwards worker lines to stdout).
    quiet = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    with quiet:
        results = _score(model, tok, built, cfg, n_shards, address)
        base_results = _score(base[1], base[2], built, cfg, n_shards, address) if base else None
    report: dict[str, Any] = {
        "model": label,
        "results": [r.to_dict(with_items) for r in results],
    }
    gate = _gate(results, base_results, cfg, stage) if base_results is not None else None
    if gate is not None and base is not None:
        report |= {"baseline": base[0], "gate": gate.to_dict()}
    if as_json:
        print_json(report)
    else:
        console.print(_table(label, results, with_groups))
        if gate is not None:
            console.print(gate.summary(), highlight=False)
    if gate is not None and not gate.passed:
        sys.exit(1)  # a gate that fails or cannot decide ("no signal") is not a pass


def _print_list(as_json: bool) -> None:
    from agent_forge.eval import catalog

    rows = catalog.describe()
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"Suites ({len(rows)})")
    for col in ("name", "source", "shots", "description"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r["name"]), str(r["source"]), str(r["shots"]), str(r["description"]))
    console.print(table)


def _prepare(
    root: Home,
    cfg: PipelineConfig,
    model_id: str,
    baseline: str | None,
    names: list[str],
    benchmarks_dir: str | None,
    limit: int | None,
) -> tuple[list[Any], tuple[str, Any, Any], tuple[str, Any, Any] | None]:
    """Check every input (suite names, folders, ids) before generating data or scoring; then
    the suites, the model and the baseline model."""
    from agent_forge.eval import catalog

    for name in names:
        if name not in catalog.suite_names():
            catalog.build_suite(name, catalog.SuiteOptions())  # NotFoundError, did-you-mean
    folder = benchmarks_dir or cfg.eval.benchmarks_dir
    bdir = Path(folder) if folder else None
    if bdir is not None and not bdir.is_dir():
        raise DataFileError(str(bdir), "benchmarks folder not found")
    model = load_model_ref(root, model_id)
    base = load_model_ref(root, baseline) if baseline else None
    opts = catalog.SuiteOptions(
        data_dir=_builtin_data(root, cfg) if any(n in catalog.BUILTIN for n in names) else None,
        benchmarks_dir=bdir,
        levels=tuple(cfg.eval.levels),
        per_level=cfg.eval.per_level,
        max_new_tokens=cfg.eval.max_new_tokens,
        limit=limit or cfg.eval.limit,
    )
    built = [catalog.build_suite(n, opts) for n in names]
    if limit:
        for s in built:
            s.items = s.items[:limit]
    return built, model, base


def _gate(results: list[Any], base_results: list[Any], cfg: PipelineConfig, stage: str) -> Any:
    """Retention of every metric against the baseline's, judged by the stage's QualityGate."""
    from agent_forge.eval.compare import suite_retention
    from agent_forge.eval.gates import GateThresholds, QualityGate

    e = cfg.eval
    retentions = [
        r
        for cand, base in zip(results, base_results, strict=True)
        for r in suite_retention(cand, base, e.bootstrap_resamples, e.seed)
    ]
    return QualityGate(GateThresholds(**e.gates.model_dump())).evaluate(stage, retentions)


def _builtin_data(root: Home, cfg: PipelineConfig) -> Path:
    """The built-in dataset for `eval.data_seed` etc., generated once into the home."""
    from agent_forge.eval.catalog import builtin_data_dir

    e = cfg.eval
    if not (root.root / "eval_data").is_dir():
        err_console.print(f"building the built-in eval dataset in {root.root / 'eval_data'} ...")
    return builtin_data_dir(root.root, e.data_seed, e.examples_per_level, e.corpus_bytes)


def _score(
    model: Any, tok: Any, suites: list[Any], cfg: PipelineConfig, shards: int, address: str | None
) -> list[Any]:
    from agent_forge.eval.runner import EvalOptions, evaluate_suite

    e = cfg.eval
    opts = EvalOptions(
        batch_size=e.batch_size,
        code_timeout_s=e.sandbox.timeout_s,
        code_workers=e.sandbox.workers,
        code_cpu_seconds=e.sandbox.cpu_seconds,
        code_memory_mb=e.sandbox.memory_mb,
        bootstrap_resamples=e.bootstrap_resamples,
        seed=e.seed,
    )
    if shards:
        from agent_forge.runtime.eval_shards import evaluate_sharded
        from agent_forge.runtime.ray_runtime import resolve_address, start_ray

        start_ray(cfg.ray, resolve_address(address, cfg.ray), dashboard=False)
    out = []
    for s in suites:
        with err_console.status(f"scoring {s.name} ({len(s.items)} items)"):
            if shards:
                out.append(evaluate_sharded(model, tok, s, opts, shards))
            else:
                out.append(evaluate_suite(model, tok, s, opts))
    return out


def _table(label: str, results: list[Any], with_groups: bool = False) -> Table:
    seconds = sum(r.seconds for r in results)
    table = Table(title=f"Evaluation of {label}", caption=f"scored in {seconds:.1f} s")
    for col in ("suite", "metric", "score", "95% CI", "n", "chance", "vs chance"):
        table.add_column(col, no_wrap=col in ("metric", "vs chance"))
    for r in results:
        rows = [(r.suite, r.metrics)]
        if with_groups:
            rows += [(f"  {g}", ms) for g, ms in r.groups.items()]
        for where, metrics in rows:
            for name, m in metrics.items():
                table.add_row(
                    where,
                    name,
                    f"{m.value:.3g}",
                    f"{m.ci95[0]:.3g}–{m.ci95[1]:.3g}",
                    str(m.n),
                    "-" if m.chance is None or math.isnan(m.chance) else f"{m.chance:.3g}",
                    _versus_chance(m),
                )
    return table


def _versus_chance(m: Any) -> str:
    """'better' when the whole CI clears chance in the metric's good direction."""
    if m.chance is None or math.isnan(m.chance):
        return "-"
    clear = m.ci95[0] > m.chance if m.higher_is_better else m.ci95[1] < m.chance
    return "better" if clear else "no signal"
