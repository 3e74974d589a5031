"""The job spec and its worker entry: resources follow run.device, a job the cluster cannot hold
fails in seconds naming the resource, the start model is loaded hash-checked and strictly onto
the worker's device, and a job's Ray checkpoints are hash-checked when read back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from agent_forge.config.schema import PipelineConfig, RayTrainScalingConfig
from agent_forge.core.storage import save_pretrained
from agent_forge.errors import IntegrityError
from agent_forge.model import CognateForCausalLM, cognate_tiny_config
from agent_forge.runtime.jobs import JobSpec, ModelSource, Worker, job_scaling, run_jobs, run_worker
from agent_forge.runtime.train import (
    ListReporter,
    ResourceError,
    check_resources,
    load_checkpoint_state,
    trained_weights,
)
from agent_forge.training import LMTrainConfig, OptimConfig, train_lm


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> ModelSource:
    torch.manual_seed(0)
    model = CognateForCausalLM(cognate_tiny_config(vocab_size=64, act_max_steps=1))
    path = tmp_path_factory.mktemp("start") / "model"
    hashes = save_pretrained(model, path)
    return ModelSource("start", str(path), hashes)


def _gpu_profile(device: str) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {"run": {"device": device}, "ray": {"train": {"use_gpu": True, "gpus_per_worker": 1}}}
    )


@pytest.mark.parametrize(
    ("device", "cluster", "use_gpu"),
    [
        ("auto", {"CPU": 2.0}, False),  # consumer-gpu on a CPU machine adapts
        ("auto", {"CPU": 2.0, "GPU": 1.0}, True),
        ("cpu", {"CPU": 2.0, "GPU": 1.0}, False),
        ("cuda", {"CPU": 2.0}, True),  # asked for: the resource check then refuses it
    ],
)
def test_resources_follow_run_device(device, cluster, use_gpu):
    s = job_scaling(_gpu_profile(device), cluster)
    assert s.use_gpu is use_gpu
    assert (s.gpus_per_worker > 0) is use_gpu


def _echo(w: Worker) -> dict:
    return {"device": str(w.device), "params_on": str(next(w.model.parameters()).device)}


def test_a_gpu_job_on_a_cpu_only_cluster_fails_in_seconds(ray_session, saved, tmp_path):
    scaling = RayTrainScalingConfig(use_gpu=True, gpus_per_worker=1)
    spec = JobSpec("needs-gpu", _echo, saved, {}, 0, scaling, str(tmp_path))
    t0 = time.monotonic()
    with pytest.raises(ResourceError) as err:
        run_jobs([spec])
    assert time.monotonic() - t0 < 10  # not a wait for a GPU that never comes
    msg = str(err.value)
    assert "needs-gpu" in msg and "asks for GPU 1" in msg and "has GPU 0" in msg
    assert err.value.exit_code == 2
    assert not any(tmp_path.iterdir())  # nothing started, nothing written


def test_check_resources_names_cpus_too():
    scaling = RayTrainScalingConfig(num_workers=4, cpus_per_worker=2)
    spec = JobSpec("big", _echo, None, {}, 0, scaling, "unused").to_train_job()  # type: ignore[arg-type]
    with pytest.raises(ResourceError, match="asks for CPU 8 .* has CPU 2"):
        check_resources([spec], {"CPU": 2.0})


def test_the_worker_entry_loads_onto_its_device(saved):
    spec = JobSpec("echo", _echo, saved, {}, 0, RayTrainScalingConfig(), "unused")
    assert run_worker({"spec": spec}, ListReporter(), None) == {"device": "cpu", "params_on": "cpu"}


def test_the_start_model_is_hash_checked_and_strict(saved, tmp_path):
    with pytest.raises(IntegrityError):
        ModelSource("x", saved.path, {k: "0" * 64 for k in saved.sha256}).load()
    # a checkpoint key the model does not have is an error, not a silent skip
    with pytest.raises(ValueError, match="missing"):
        saved.with_(overrides={"thought_mixing": True}).load()
    model = saved.with_(overrides={"thought_mixing": True}, fresh=("thought_head.",)).load()
    assert model.thought_head is not None  # a fresh module the caller asked for
    assert saved.with_(drop=("model.norm",), fresh=("model.norm",)).load() is not None


def _lm_body(w: Worker) -> dict:
    i = w.inputs
    return train_lm(w.model, i["tokens"], i["tokens"], i["train"], w.report, w.resume)


@pytest.mark.ray
@pytest.mark.slow  # one Ray Train job (~15 s)
def test_a_ray_job_trains_and_its_checkpoints_are_hash_checked(ray_session, saved, tmp_path):
    tokens = torch.randint(0, 64, (2000,), generator=torch.Generator().manual_seed(0))
    train = LMTrainConfig(
        steps=4,
        batch_size=2,
        seq_len=16,
        eval_every=2,
        checkpoint_every=2,
        eval_batches=1,
        optim=OptimConfig(warmup_steps=1, total_steps=4),
    )
    spec = JobSpec(
        "lm",
        _lm_body,
        saved,
        {"tokens": tokens, "train": train},
        0,
        RayTrainScalingConfig(),
        str(tmp_path),
    )
    [res] = run_jobs([spec])
    weights = trained_weights(res)
    start = saved.load().state_dict()
    assert any(not torch.equal(weights[k], start[k]) for k in weights)
    state_file = Path(res.checkpoint_path, "state.safetensors")
    state_file.write_bytes(state_file.read_bytes()[:-8] + b"\0" * 8)  # corrupt the last bytes
    with pytest.raises(IntegrityError):
        load_checkpoint_state(res.checkpoint_path)


@pytest.mark.gpu
@pytest.mark.ray
def test_a_gpu_job_trains_on_the_gpu_ray_gave_it(ray_session, saved, tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    scaling = RayTrainScalingConfig(use_gpu=True, gpus_per_worker=1)
    spec = JobSpec("on-gpu", _echo, saved, {}, 0, scaling, str(tmp_path))
    [res] = run_jobs([spec])
    assert res.value["device"].startswith("cuda") and res.value["params_on"].startswith("cuda")


@pytest.mark.parametrize(
    ("device", "cluster", "gpu"),
    [
        ("auto", {"CPU": 2.0}, 0.0),
        ("auto", {"CPU": 2.0, "GPU": 1.0}, 0.25),
        ("cpu", {"GPU": 1.0}, 0.0),
    ],
)
def test_tune_trials_follow_run_device(device, cluster, gpu):
    from agent_forge.runtime.jobs import trial_resources

    cfg = PipelineConfig.model_validate(
        {"run": {"device": device}, "ray": {"tune": {"gpus_per_trial": 0.25}}}
    )
    assert trial_resources(cfg, cluster) == {"cpu": cfg.ray.tune.cpus_per_trial, "gpu": gpu}
