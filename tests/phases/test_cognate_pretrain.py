"""phases.cognate.shared_pretrain_steps: the shared init trained on every specialisation's domains
before the three runs, which then start from it. In-process (no Ray): `run_train_jobs` is replaced
by a runner that calls the same worker entry (runtime.jobs.run_worker) with an in-memory
reporter, so this checks the phase's wiring — what each job starts from, what is registered,
what a resume reuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from agent_forge.config import load_config
from agent_forge.core.checkpoints import MANIFEST_FILE, WEIGHTS_FILE
from agent_forge.core.home import Home
from agent_forge.core.storage import load_state_dict, sha256_file
from agent_forge.phases import PHASES
from agent_forge.pipeline import Pipeline
from agent_forge.runtime import train as train_runtime
from agent_forge.runtime.train import ListReporter, TrainJobResult
from agent_forge.training import model_weights
from tests.phases.test_cognate import SMALL, _run, _sets

PRETRAIN = 10  # of SMALL's 40 steps


class InProcessJobs:
    """run_train_jobs without Ray: each job's loop in this process, its final weights on disk.
    Records every job started and the weights each one started from."""

    def __init__(self, root: Path, fail_on: str | None = None):
        self.root, self.fail_on = root, fail_on
        self.started: list[tuple[str, dict, dict[str, torch.Tensor]]] = []
        self.final: dict[str, dict[str, torch.Tensor]] = {}

    def __call__(self, jobs: list, max_concurrent: int | None = None) -> list[TrainJobResult]:
        out = []
        for job in jobs:
            cfg = job.loop_config  # {"spec": JobSpec}: what Ray Train hands the worker entry
            spec = cfg["spec"]
            start = load_state_dict(spec.source.path, spec.source.sha256)
            self.started.append((job.name, spec, start))
            if self.fail_on and job.name.endswith(self.fail_on):
                raise RuntimeError(f"simulated crash in {job.name}")
            reporter = ListReporter()
            value = job.loop(cfg, reporter, None)
            state = reporter.latest_state().state
            self.final[job.name] = model_weights(state)
            path = self.root / job.name
            path.mkdir(parents=True)
            save_file(state, str(path / WEIGHTS_FILE))
            manifest = {"step": 0, "sha256": {WEIGHTS_FILE: sha256_file(path / WEIGHTS_FILE)}}
            (path / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
            out.append(
                TrainJobResult(job.name, value, reporter.metrics, str(path), None, 0.1, 0, 0, "")
            )
        return out


def _pipeline(home: Path, **overrides) -> Pipeline:
    sets = ["metrics.wandb.mode=disabled", "monitor.enabled=false"]
    sets += [f"phases.cognate.{k}={json.dumps(v)}" for k, v in (SMALL | overrides).items()]
    return Pipeline(load_config(overrides=sets), Home(home), PHASES, None)


@pytest.fixture(autouse=True)
def _torch_threads():
    """The worker body sets torch's thread count; give the rest of the test run its own back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    shared = set(a) & set(b)
    return len(shared) > 10 and all(torch.equal(a[k], b[k]) for k in shared)


def test_runs_start_from_the_pretrained_init_which_is_the_registered_side_model(
    tmp_path, monkeypatch
):
    jobs = InProcessJobs(tmp_path / "runs")
    monkeypatch.setattr(train_runtime, "run_train_jobs", jobs)
    pipe = _pipeline(tmp_path / "home", shared_pretrain_steps=PRETRAIN)
    report = pipe.run("cognate")
    assert report.exit_code == 0, report.error

    names = [name.removeprefix(f"{report.session_id}-") for name, _, _ in jobs.started]
    assert names == ["shared_pretrain", "reasoning", "memory_integration", "adaptive_computation"]
    steps = [spec.inputs["train"].steps for _, spec, _ in jobs.started]
    assert steps == [PRETRAIN] + [SMALL["steps"] - PRETRAIN] * 3
    (pre_name, _, random_start), *children = jobs.started
    pretrained = jobs.final[pre_name]
    assert not _same(pretrained, random_start)  # the pretraining changed the weights
    for name, _, start in children:  # each specialised run starts from the pretrained weights
        assert _same(start, pretrained) and not _same(start, random_start), name

    models = pipe.registry.list_models(session_id=report.session_id)
    init = [m for m in models if "shared_init" in m["metadata"]["tags"]]
    trained = [m for m in models if m not in init]
    assert len(init) == 1 and len(trained) == 3  # the random init is not registered
    assert init[0]["metadata"]["pretrain_steps"] == PRETRAIN
    registered = load_state_dict(init[0]["path"], init[0]["metadata"]["sha256"])
    assert _same(registered, pretrained)  # the side model (the merge base) is the pretrained one
    assert all(m["metadata"]["shared_init"] == init[0]["model_id"] for m in trained)
    keys = {m["key"] for m in pipe.registry.get_metrics(report.session_id, phase="cognate")}
    assert {"shared_init/train/loss", "shared_init/val_loss", "model_1/train/loss"} <= keys


def test_resume_after_pretraining_does_not_pretrain_again(tmp_path, monkeypatch):
    home = tmp_path / "home"
    crash = InProcessJobs(tmp_path / "runs1", fail_on="reasoning")
    monkeypatch.setattr(train_runtime, "run_train_jobs", crash)
    report = _pipeline(home, shared_pretrain_steps=PRETRAIN).run("cognate")
    assert report.exit_code == 1 and "simulated crash" in report.error
    pretrained = crash.final[crash.started[0][0]]

    again = InProcessJobs(tmp_path / "runs2")
    monkeypatch.setattr(train_runtime, "run_train_jobs", again)
    pipe = _pipeline(home, shared_pretrain_steps=PRETRAIN)
    report = pipe.resume(report.session_id)
    assert report.exit_code == 0, report.error
    names = [name.removeprefix(f"{report.session_id}-") for name, _, _ in again.started]
    assert names == ["reasoning", "memory_integration", "adaptive_computation"]  # no pretraining
    assert all(_same(start, pretrained) for _, _, start in again.started)
    models = pipe.registry.list_models(session_id=report.session_id)
    assert sum("shared_init" in m["metadata"]["tags"] for m in models) == 1


@pytest.mark.parametrize("value", [SMALL["steps"], SMALL["steps"] + 1, -1])
def test_shared_pretrain_steps_outside_0_to_steps_is_a_config_error(tmp_path, value):
    code, out = _run(tmp_path / "home", *_sets(SMALL | {"shared_pretrain_steps": value}))
    assert code == 2 and "shared_pretrain_steps" in json.dumps(out), out


class _RecordThenCrash(InProcessJobs):
    """Records every job handed over (all three specialised ones at once), runs only the shared
    pretraining, then crashes: the optimiser config is what is under test, not the training."""

    def __call__(self, jobs: list, max_concurrent: int | None = None) -> list[TrainJobResult]:
        specs = [(j.name, j.loop_config["spec"]) for j in jobs]
        self.handed = getattr(self, "handed", []) + specs
        if all(j.name.endswith("shared_pretrain") for j in jobs):
            return super().__call__(jobs, max_concurrent)
        raise RuntimeError("stop after recording the specialised jobs")


@pytest.mark.parametrize(
    ("pretrain", "specialize_lr", "expected"),
    [(PRETRAIN, 3e-3, 3e-3), (PRETRAIN, None, 1e-2), (0, 3e-3, 1e-2)],
)
def test_specialised_runs_use_specialize_lr_and_the_pretraining_keeps_lr(
    tmp_path, monkeypatch, pretrain, specialize_lr, expected
):
    jobs = _RecordThenCrash(tmp_path / "runs")
    monkeypatch.setattr(train_runtime, "run_train_jobs", jobs)
    overrides = {"lr": 1e-2, "shared_pretrain_steps": pretrain, "specialize_lr": specialize_lr}
    report = _pipeline(tmp_path / "home", **overrides).run("cognate")
    assert report.exit_code == 1 and "stop after recording" in report.error
    lrs = {
        name.removeprefix(f"{report.session_id}-"): (o.muon_lr, o.adamw_lr)
        for name, spec in jobs.handed
        for o in [spec.inputs["train"].optim]
    }
    specialised = {"reasoning", "memory_integration", "adaptive_computation"}
    assert set(lrs) == specialised | ({"shared_pretrain"} if pretrain else set())
    if pretrain:
        assert lrs["shared_pretrain"] == (1e-2, 1e-2)
    assert all(lrs[n] == (expected, expected) for n in specialised)


@pytest.mark.parametrize("value", [0, -1e-3, 1.5])
def test_specialize_lr_outside_0_to_1_is_a_config_error(tmp_path, value):
    code, out = _run(tmp_path / "home", *_sets(SMALL | {"specialize_lr": value}))
    assert code == 2 and "specialize_lr" in json.dumps(out), out
