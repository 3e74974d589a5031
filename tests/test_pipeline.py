"""The driver with two test-defined real phases: chaining, handoffs, failures, single phases."""

from __future__ import annotations

import pytest

from agent_forge.config import load_config
from agent_forge.core.home import Home
from agent_forge.core.phase_names import PHASE_SEQUENCE
from agent_forge.errors import NotFoundError, PhaseNotBuiltError
from agent_forge.pipeline import Pipeline
from tests.support.phases import make_phases

pytestmark = pytest.mark.ray


@pytest.fixture
def cfg():
    return load_config(overrides=["metrics.wandb.mode=disabled", "monitor.interval_seconds=0.2"])


@pytest.fixture
def runtime(ray_session, cfg):
    from agent_forge.runtime.ray_runtime import start_ray

    return lambda: start_ray(cfg.ray, None, dashboard=False)


def test_full_run_chains_phases_and_stops_honestly_at_the_first_unbuilt_phase(
    forge_home, cfg, runtime
):
    pipe = Pipeline(cfg, Home(forge_home), make_phases(steps=2), runtime)
    report = pipe.run()
    assert report.status == "incomplete" and report.exit_code == 0
    assert report.ran == ["cognate", "evomerge"]
    assert report.not_built == list(PHASE_SEQUENCE[2:])
    reg = pipe.registry
    assert reg.get_session(report.session_id)["status"] == "incomplete"
    phases = {p["phase_name"]: p for p in reg.get_phases(report.session_id)}
    assert set(phases) == {"cognate", "evomerge"}  # nothing recorded for unbuilt phases
    assert all(p["status"] == "completed" for p in phases.values())
    assert len(reg.list_models(phase="cognate", session_id=report.session_id)) == 3
    assert len(reg.list_models(phase="evomerge", session_id=report.session_id)) == 1
    # the merge got its three inputs through the object store
    assert report.results["evomerge"]["metrics"]["phase/inputs_via_object_store"] == 3
    metrics = reg.get_metrics(report.session_id)
    keys = {m["key"] for m in metrics}
    assert {"model_1/train/loss", "phase/duration_seconds", "phase/success"} <= keys
    assert any(k.startswith("system/") for k in keys)  # the resource monitor ran
    assert Home(forge_home).metrics_file(report.session_id).is_file()


def test_failed_handoff_stops_the_run_naming_rule_value_and_limit(forge_home, runtime):
    cfg = load_config(overrides=["metrics.wandb.mode=disabled", "monitor.enabled=false"])
    cfg.handoffs[0].num_models = 2  # cognate makes 3
    pipe = Pipeline(cfg, Home(forge_home), make_phases(steps=1), runtime)
    report = pipe.run()
    assert report.status == "failed" and report.exit_code == 1
    assert report.failed_phase == "evomerge"
    assert "num_models" in report.error and "value 3" in report.error and "limit 2" in report.error
    phases = {p["phase_name"]: p for p in pipe.registry.get_phases(report.session_id)}
    assert phases["evomerge"]["status"] == "failed"
    assert pipe.registry.list_models(phase="evomerge") == []


def test_param_range_and_metadata_rules(forge_home, runtime):
    cfg = load_config(overrides=["metrics.wandb.mode=disabled", "monitor.enabled=false"])
    cfg.handoffs[0].param_range = (10, 20)
    report = Pipeline(cfg, Home(forge_home), make_phases(steps=1), runtime).run()
    assert "param_range" in report.error and "[10, 20]" in report.error
    cfg.handoffs[0].param_range = None
    cfg.handoffs[0].required_metadata = ["specialization", "no_such_key"]
    report = Pipeline(cfg, Home(forge_home), make_phases(steps=1), runtime).run()
    assert "required_metadata" in report.error and "no_such_key" in report.error


def test_a_phase_that_raises_fails_the_session_with_the_error_recorded(forge_home, cfg, runtime):
    pipe = Pipeline(cfg, Home(forge_home), make_phases(fail=True), runtime)
    report = pipe.run()
    assert report.status == "failed" and report.failed_phase == "cognate"
    assert "deliberate failure" in report.error
    session = pipe.registry.get_session(report.session_id)
    assert session["status"] == "failed"
    row = pipe.registry.get_phases(report.session_id)[0]
    assert row["status"] == "failed" and "deliberate failure" in row["error"]
    log_text = Home(forge_home).log_file(report.session_id).read_text()
    assert "[cognate]" in log_text and "deliberate failure" in log_text


def test_a_phase_whose_gate_fails_is_not_success(forge_home, cfg, runtime):
    pipe = Pipeline(cfg, Home(forge_home), make_phases(steps=1, merge_fails=True), runtime)
    report = pipe.run()
    assert report.failed_phase == "evomerge" and "deliberate" in report.error
    assert pipe.registry.list_models(phase="evomerge") == []  # a failed phase registers nothing


def test_single_phase_uses_latest_outputs_or_explicit_inputs(forge_home, cfg, runtime):
    home = Home(forge_home)
    table = make_phases(steps=1)
    with pytest.raises(NotFoundError, match="no session has completed cognate"):
        Pipeline(cfg, home, table, runtime).run("evomerge")
    first = Pipeline(cfg, home, table, runtime).run("cognate")
    assert first.status == "completed" and first.ran == ["cognate"]
    second = Pipeline(cfg, home, table, runtime).run("evomerge")
    assert second.status == "completed"
    pipe = Pipeline(cfg, home, table, runtime)
    ids = [m["model_id"] for m in pipe.registry.list_models(phase="cognate")]
    cfg.handoffs[0].num_models = None  # two inputs are fine for this run
    third = pipe.run("evomerge", ids[:2])
    assert third.status == "completed"
    handoffs_ok = pipe.registry.get_phases(third.session_id)[0]["status"] == "completed"
    assert handoffs_ok


def test_a_phase_that_is_not_built_cannot_be_run_alone(forge_home, cfg, runtime):
    with pytest.raises(PhaseNotBuiltError, match="quietstar is not built"):
        Pipeline(cfg, Home(forge_home), make_phases(), runtime).run("quietstar")
