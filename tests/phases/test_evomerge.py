"""Phase 2 EvoMerge through the real CLI on Phase 1's real (small) models: Tune trials that merge
and score in memory, the spec's metrics and artefacts, a recipe that rebuilds the champion, the
gate, and a crash after a generation that resumes to the same search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from agent_forge.cli.main import cli
from agent_forge.core.registry import ModelRegistry
from agent_forge.phases.evomerge.phase import EvoMergePhase
from tests.support.phase_runs import (
    EVAL_SMALL,
    EVO_SMALL,
    WIRING_GATES,
    copy_home,
    run_cli,
    sets,
)


def _evomerge(home: Path, *extra: str) -> tuple[int, dict]:
    """`run --phase evomerge` with the eval settings of the small pipeline run."""
    return run_cli(home, "--phase", "evomerge", *EVAL_SMALL, *WIRING_GATES, *extra)


def _session_dir(home: Path, sid: str) -> Path:
    return home / "sessions" / sid / "evomerge"


@pytest.fixture(scope="module")
def evo_home(small_pipeline, tmp_path_factory) -> Path:
    return copy_home(small_pipeline, tmp_path_factory, "evo")


@pytest.mark.ray
@pytest.mark.slow
def test_search_registers_a_champion_with_metrics_artifacts_and_a_rebuilding_recipe(
    small_pipeline, evo_home, tmp_path
):
    """Phase 2 of the shared small run (EVO_SMALL), on Phase 1's three models."""
    report = small_pipeline[1]
    assert report["results"]["evomerge"]["success"], report
    sid = report["session_id"]
    reg = ModelRegistry(evo_home / "registry.db")
    (champ,) = reg.list_models(session_id=sid, phase="evomerge")
    md = champ["metadata"]
    assert {"fitness", "merge_technique"} <= set(md)  # the evomerge -> quietstar handoff
    assert len(md["merge_technique"].split("+")) == 3
    keys = {m["key"] for m in reg.get_metrics(sid, phase="evomerge")}
    for g in range(3):
        for k in ("best", "avg", "min", "max", "std"):
            assert f"generation_{g}/{k}_fitness" in keys
        assert {f"generation_{g}/diversity_score", f"generation_{g}/convergence_indicator"} <= keys
    assert {
        "phase/initial_fitness",
        "phase/final_fitness",
        "phase/fitness_improvement_percent",
        "phase/best_merge_technique",
        "phase/best_parent_fitness",
    } <= keys
    assert any(k.startswith("merge_technique/") and k.endswith("/success_rate") for k in keys)

    run_dir = _session_dir(evo_home, sid)
    state = json.loads((run_dir / "search" / "state.json").read_text())
    assert [r["gen"] for r in state["records"]] == [0, 1, 2]
    bests = [r["best"] for r in state["records"]]
    assert bests == sorted(bests) and md["fitness"] == pytest.approx(bests[-1])
    assert all(0.0 < r["min"] <= r["max"] <= 1.0 for r in state["records"])
    assert state["records"][0]["evals"] == 8  # generation 0: the 8 combinations
    assert sum(r["cache_hits"] for r in state["records"][1:]) >= 1  # the champion kept, cached
    lineage = json.loads((run_dir / "lineage.json").read_text())
    assert lineage["champion_ancestry"][0] == lineage["champion"]
    assert (run_dir / "fitness_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert (run_dir / "logbook.txt").read_text().splitlines()[0].startswith("gen\tevals")
    test = json.loads((run_dir / "test_report.json").read_text())["models"]
    assert {
        "champion",
        "parent-0",
        "parent-1",
        "parent-2",
        "linear_untuned",
        "ties_untuned",
    } == set(test)
    for scores in test.values():
        assert scores["accuracy_lo"] <= scores["accuracy"] <= scores["accuracy_hi"]
        assert scores["loss_lo"] <= scores["loss"] <= scores["loss_hi"]
    assert len(list((run_dir / "search" / "elites").iterdir())) <= 11

    # best_recipe.yaml names the registered parents and rebuilds the champion bit for bit
    out = tmp_path / "rebuilt"
    res = CliRunner().invoke(
        cli,
        [
            "merge",
            str(run_dir / "best_recipe.yaml"),
            "--out",
            str(out),
            "--home",
            str(evo_home),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    a = load_file(str(Path(champ["path"]) / "model.safetensors"))
    b = load_file(str(out / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.ray
@pytest.mark.slow
def test_crash_after_a_generation_resumes_to_the_same_search_and_the_gate_can_fail(
    small_pipeline, evo_home, monkeypatch
):
    """Generation 1 is scored and saved, then the process 'dies'; --resume finishes the search
    with the same populations and fitness as a run that never stopped (the small pipeline's
    session, same config). An unreachable gate then fails the phase and registers nothing."""
    reg = ModelRegistry(evo_home / "registry.db")
    reference_sid = small_pipeline[1]["session_id"]
    reference = json.loads(
        (_session_dir(evo_home, reference_sid) / "search" / "state.json").read_text()
    )
    real = EvoMergePhase._run_generation

    def dies_after_generation_1(self, state):
        real(self, state)
        if state.generation == 2:
            raise RuntimeError("killed after generation 1")

    monkeypatch.setattr(EvoMergePhase, "_run_generation", dies_after_generation_1)
    code, report = _evomerge(evo_home, *sets("evomerge", EVO_SMALL))
    assert code == 1 and "killed after generation 1" in report["error"], report
    monkeypatch.setattr(EvoMergePhase, "_run_generation", real)
    sid = report["session_id"]
    res = CliRunner().invoke(
        cli, ["run", "--home", str(evo_home), "--json", "--no-dashboard", "--resume", sid]
    )
    assert res.exit_code == 0, (res.output[-3000:], res.exception)
    report = json.loads(res.stdout)
    assert report["ran"] == ["evomerge"], report
    state = json.loads((_session_dir(evo_home, sid) / "search" / "state.json").read_text())
    for key in ("records", "lineage", "champion_id", "parent_fitness"):
        assert state[key] == reference[key], key

    strict = EVO_SMALL | {
        "generations": 0,
        "report_baselines": False,
        "population_size": 2,
        "elites": 1,
        "min_fitness_vs_best_parent": 100.0,
        "on_gate_fail": "fail",
    }
    code, report = _evomerge(evo_home, *sets("evomerge", strict))
    assert code == 1 and "champion fitness" in report["error"]
    assert not reg.list_models(session_id=report["session_id"], phase="evomerge")

    # The same failed gate with the best_parent fallback: the run goes on with a copy of the
    # best parent, labelled as a fallback (never as a passed gate).
    code, report = _evomerge(evo_home, *sets("evomerge", strict | {"on_gate_fail": "best_parent"}))
    assert code == 0 and "champion fitness" in report["fallbacks"]["evomerge"], report
    assert report["results"]["evomerge"]["fallback"] == report["fallbacks"]["evomerge"]
    (out,) = reg.list_models(session_id=report["session_id"], phase="evomerge")
    md = out["metadata"]
    assert md["merge_technique"] == "none" and "champion fitness" in md["fallback"]
    state = json.loads(
        (_session_dir(evo_home, report["session_id"]) / "search" / "state.json").read_text()
    )
    best = max(range(3), key=lambda i: state["parent_fitness"][i])
    assert (
        md["source_model"] == md["parents"][best] and md["fitness"] == state["parent_fitness"][best]
    )
    copy = load_file(str(Path(out["path"]) / "model.safetensors"))
    parent = load_file(str(Path(reg.get_model(md["source_model"])["path"]) / "model.safetensors"))
    assert copy.keys() == parent.keys() and all(torch.equal(copy[k], parent[k]) for k in copy)
    rows = ModelRegistry(evo_home / "registry.db").get_phases(report["session_id"])
    assert [r["status"] for r in rows if r["phase_name"] == "evomerge"] == ["completed"]
    status = CliRunner().invoke(
        cli, ["status", "--home", str(evo_home), "--session", report["session_id"], "--json"]
    )
    (evo,) = [p for p in json.loads(status.stdout)["phases"] if p["phase_name"] == "evomerge"]
    assert evo["fallback"] == report["fallbacks"]["evomerge"]
