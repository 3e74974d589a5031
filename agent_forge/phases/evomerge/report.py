"""EvoMerge's suites, metric names (spec §Phase 2 metrics) and artefacts: best_recipe.yaml,
lineage.json, fitness_curve.png, test_report.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent_forge.config.evomerge_config import EvoMergeConfig
from agent_forge.core.contracts import ModelHandle
from agent_forge.core.storage import atomic_write_json, atomic_write_text
from agent_forge.eval.items import Suite
from agent_forge.merging.evolution import Member
from agent_forge.merging.genome import INTERP, STRUCT, TASK
from agent_forge.merging.recipe import Recipe, to_yaml_documents
from agent_forge.phases.evomerge.state import SearchState


def suites(data_dir: Path, split: str, c: EvoMergeConfig) -> tuple[Suite, Suite]:
    """(tasks, loss) of `split`: exact match on `levels`, held-out loss on `loss_items` docs."""
    from agent_forge.eval.catalog import SuiteOptions, build_suite

    opts = SuiteOptions(
        data_dir=data_dir,
        levels=tuple(c.levels),
        per_level=c.per_level,
        max_new_tokens=c.max_new_tokens,
    )
    tasks = build_suite(f"tasks_{split}", opts)
    loss = build_suite(f"loss_{split}", opts)
    if c.loss_items is not None:
        loss.items = loss.items[: c.loss_items]
    return tasks, loss


def generation_metrics(state: SearchState, gen: int) -> dict[str, float]:
    r = state.records[-1]
    out = {f"generation_{gen}/{k}_fitness": r[k] for k in ("avg", "min", "max", "std")}
    out[f"generation_{gen}/best_fitness"] = r["best"]
    out[f"generation_{gen}/diversity_score"] = r["diversity"]
    out[f"generation_{gen}/convergence_indicator"] = r["convergence"]
    out[f"generation_{gen}/evaluations"] = r["evals"]
    return out


def technique_success(state: SearchState) -> dict[str, float]:
    """Per technique: the share of the candidates using it that beat what they came from (their
    lineage parents, or the best input model for generation 0)."""
    best_input = max(state.parent_fitness or [0.0])
    wins: dict[str, list[bool]] = {t: [] for t in (*INTERP, *TASK, *STRUCT)}
    for row in state.lineage.values():
        m = Member.from_json(row["member"])
        if m.origin == "champion":
            continue
        ref = [state.fitness_of(p) for p in m.parents if p in state.lineage] or [best_input]
        for t in row["techniques"]:
            wins[t].append(row["fitness"] > max(ref))
    return {f"merge_technique/{t}/success_rate": sum(w) / len(w) for t, w in wins.items() if w}


def phase_metrics(
    state: SearchState,
    test: dict[str, Any],
    best_parent: int,
    champion: ModelHandle,
    inputs: list[ModelHandle],
) -> dict[str, Any]:
    initial = state.records[0]["best"]
    final = state.records[-1]["best"]
    parent_fit = (state.parent_fitness or [0.0])[best_parent]
    out: dict[str, Any] = {
        "phase/initial_fitness": initial,
        "phase/final_fitness": final,
        "phase/fitness_improvement": final - initial,
        "phase/fitness_improvement_percent": 100 * (final - initial) / initial if initial else 0.0,
        "phase/best_parent_fitness": parent_fit,
        "phase/gain_over_best_parent": final - parent_fit,
        "phase/best_merge_technique": "+".join(state.champion.genome.techniques),
        "phase/compression_ratio": inputs[best_parent].parameters / champion.parameters,
        "phase/generations_run": len(state.records),
        "phase/early_stopped": state.stopped,
        "phase/reseeds": state.reseeds,
        "phase/candidates_scored": len(state.cache),
        "phase/failed_candidates": sum(1 for v in state.cache.values() if "error" in v),
        "phase/champion_test_accuracy": test["champion"].get("accuracy"),
        "phase/champion_test_loss": test["champion"].get("loss"),
        "phase/best_parent_test_accuracy": test[f"parent-{best_parent}"].get("accuracy"),
        "phase/best_parent_test_loss": test[f"parent-{best_parent}"].get("loss"),
    }
    return out | technique_success(state)


def _ancestry(state: SearchState, member_id: str) -> list[str]:
    seen, todo = [], [member_id]
    while todo:
        mid = todo.pop(0)
        if mid in seen or mid not in state.lineage:
            continue
        seen.append(mid)
        todo += state.lineage[mid]["member"]["parents"]
    return seen


def write_artifacts(
    run_dir: Path,
    state: SearchState,
    recipes: list[Recipe],
    test: dict[str, Any],
    parent_ids: list[str],
) -> dict[str, str]:
    paths = {
        k: run_dir / f
        for k, f in (
            ("best_recipe", "best_recipe.yaml"),
            ("lineage", "lineage.json"),
            ("test_report", "test_report.json"),
            ("fitness_curve", "fitness_curve.png"),
            ("logbook", "logbook.txt"),
        )
    }
    atomic_write_text(paths["best_recipe"], to_yaml_documents(recipes))
    atomic_write_json(
        paths["lineage"],
        {
            "champion": state.champion_id,
            "champion_ancestry": _ancestry(state, state.champion_id or ""),
            "members": state.lineage,
            "logbook": state.records,
        },
    )
    labels = {f"parent-{i}": pid for i, pid in enumerate(parent_ids)}
    atomic_write_json(
        paths["test_report"],
        {
            "split": "test",
            "parents": labels,
            "parent_selection_fitness": state.parent_fitness,
            "models": test,
        },
    )
    atomic_write_text(paths["logbook"], f"{state.logbook()}\n")  # DEAP's table of the records
    plot_fitness(state, paths["fitness_curve"])
    return {k: str(p) for k, p in paths.items()}


def plot_fitness(state: SearchState, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gens = [r["gen"] for r in state.records]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(gens, [r["best"] for r in state.records], "o-", label="best so far")
    ax.plot(gens, [r["avg"] for r in state.records], "s--", label="population mean")
    ax.plot(gens, [r["max"] for r in state.records], "^:", label="generation max")
    if state.parent_fitness:
        ax.axhline(max(state.parent_fitness), color="grey", ls="-.", label="best parent")
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness (selection split)")
    ax2 = ax.twinx()
    ax2.plot(gens, [r["diversity"] for r in state.records], color="tab:green", alpha=0.5)
    ax2.set_ylabel("diversity", color="tab:green")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
