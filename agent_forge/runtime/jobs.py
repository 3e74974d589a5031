"""The typed spec of a training job and its one worker entry (ARCHITECTURE §8).

A phase says what to train (`JobSpec`: the start model by registry handle, the inputs its body
needs, seed, precision, threads) and names a plain body `body(worker) -> result`. The entry, on
the Ray Train worker, sets threads and seed, loads the start model hash-checked and strictly
onto the device Ray Train gave the worker, and calls the body. Resources follow `run.device`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from agent_forge.config.schema import PipelineConfig, RayTrainScalingConfig
from agent_forge.runtime.train import KEEP_CHECKPOINTS

if TYPE_CHECKING:
    from agent_forge.core.contracts import ModelHandle, PhaseContext
    from agent_forge.runtime.train import Reporter, ResumeState, TrainJob

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSource:
    """A saved HF causal LM: folder + the SHA-256 of its weight files, plus how to build it
    (config `overrides`, `fresh` module prefixes the checkpoint lacks, `drop` prefixes to skip)."""

    model_id: str
    path: str
    sha256: dict[str, str]
    overrides: dict[str, Any] = field(default_factory=dict)
    fresh: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()

    @classmethod
    def of(cls, handle: ModelHandle, **how: Any) -> ModelSource:
        return cls(handle.model_id, str(handle.path), dict(handle.metadata["sha256"]), **how)

    def with_(self, **how: Any) -> ModelSource:
        return ModelSource(**(vars(self) | how))

    def load(self, device: str | torch.device = "cpu") -> torch.nn.Module:
        from agent_forge.model.loading import load_causal_lm

        return load_causal_lm(
            self.path,
            self.sha256,
            overrides=self.overrides,
            fresh=self.fresh,
            drop=self.drop,
            device=device,
        )


@dataclass
class Worker:
    """What a job body gets: the start model on its device, the inputs, and the loop's plumbing
    (`report` and `resume` go straight to `training.loop.train`)."""

    model: torch.nn.Module
    device: torch.device
    inputs: dict[str, Any]
    seed: int
    precision: str
    source: ModelSource
    report: Callable[..., None]
    resume: tuple[dict[str, torch.Tensor], dict[str, Any]] | None

    def load(self, **how: Any) -> torch.nn.Module:
        """Another copy of the start model (a frozen reference, a teacher), on the device."""
        return self.source.with_(**how).load(self.device)


Body = Callable[[Worker], Any]


@dataclass
class JobSpec:
    """One training job. `name` is `<session>-<run>`: a rerun of the session resumes it."""

    name: str
    body: Body
    source: ModelSource
    inputs: dict[str, Any]
    seed: int
    scaling: RayTrainScalingConfig
    storage_path: str
    precision: str = "auto"
    threads: int | None = None  # None: the worker's CPUs
    keep: int = KEEP_CHECKPOINTS  # checkpoints kept on storage

    def to_train_job(self) -> TrainJob:
        from agent_forge.runtime.train import TrainJob

        loop_config = {"spec": self}
        return TrainJob(
            run_worker, loop_config, self.scaling, self.storage_path, self.name, self.keep
        )


def worker_device(scaling: RayTrainScalingConfig) -> torch.device:
    """The device Ray Train gave this worker (its GPU as cuda:N), or the CPU."""
    if scaling.use_gpu:
        import ray.train.torch

        return ray.train.torch.get_device()
    return torch.device("cpu")


def run_worker(loop_config: dict[str, Any], reporter: Reporter, resume: ResumeState | None) -> Any:
    """The worker entry of every job: threads, seed, the start model on the device, the body."""
    spec: JobSpec = loop_config["spec"]
    torch.set_num_threads(spec.threads or max(1, int(spec.scaling.cpus_per_worker)))
    torch.manual_seed(spec.seed)
    device = worker_device(spec.scaling)
    model = spec.source.load(device)
    state = (resume.state, resume.extra) if resume is not None else None
    worker = Worker(
        model=model,
        device=device,
        inputs=spec.inputs,
        seed=spec.seed,
        precision=spec.precision,
        source=spec.source,
        report=reporter.report,
        resume=state,
    )
    return spec.body(worker)


def job_scaling(config: PipelineConfig, cluster: dict[str, float]) -> RayTrainScalingConfig:
    """`ray.train` as `run.device` resolves: cpu asks for no GPU; cuda for one per worker (the
    resource check then fails fast on a cluster without one); auto for a GPU only where the
    profile asks for one and the cluster has enough."""
    s = config.ray.train
    device = config.run.device
    gpus = s.num_workers * (s.gpus_per_worker or 1.0)
    if device == "cpu" or (device == "auto" and s.use_gpu and cluster.get("GPU", 0.0) < gpus):
        if s.use_gpu:
            have = cluster.get("GPU", 0.0)
            log.info("run.device=%s: train workers ask for no GPU (cluster GPU %g)", device, have)
        return s.model_copy(update={"use_gpu": False, "gpus_per_worker": 0.0})
    if device == "cuda" and not s.use_gpu:
        return s.model_copy(update={"use_gpu": True, "gpus_per_worker": s.gpus_per_worker or 1.0})
    return s


def cluster_resources() -> dict[str, float]:
    """The Ray cluster's total resources ({} when Ray is not running)."""
    import ray

    return {k: float(v) for k, v in ray.cluster_resources().items()} if ray.is_initialized() else {}


def free_threads(scaling: RayTrainScalingConfig) -> int:
    """Threads for a job that runs alone: every CPU Ray has free (at least the worker's)."""
    import ray

    free = int(ray.available_resources().get("CPU", 1)) if ray.is_initialized() else 1
    return max(1, int(scaling.cpus_per_worker), min(free, os.cpu_count() or 1))


def job_spec(
    ctx: PhaseContext,
    run: str,
    body: Body,
    start: ModelSource,
    inputs: dict[str, Any],
    seed: int,
    precision: str = "auto",
    alone: bool = False,
) -> JobSpec:
    """The spec of job `<session>-<run>` in this phase's context (resources per `run.device`;
    `alone`: the job may use every free CPU for its threads)."""
    from agent_forge.runtime.ray_runtime import storage_path

    scaling = job_scaling(ctx.config, cluster_resources())
    threads = free_threads(scaling) if alone else None
    store = storage_path(ctx.config.ray, ctx.home)
    name = f"{ctx.session_id}-{run}"
    keep = ctx.config.registry.keep_checkpoints
    return JobSpec(name, body, start, inputs, seed, scaling, store, precision, threads, keep)


def run_jobs(specs: list[JobSpec]) -> list[Any]:
    """Run the jobs (as many at once as the cluster fits): their `TrainJobResult`s, in order."""
    from agent_forge.runtime.train import run_train_jobs

    return run_train_jobs([s.to_train_job() for s in specs])


def check_train_resources(config: PipelineConfig) -> None:
    """Before a run: the train jobs this config makes fit the Ray cluster, else `ResourceError`
    (exit code 2) naming the resource, the amount and what the cluster has."""
    from agent_forge.runtime.train import TrainJob, check_resources

    cluster = cluster_resources()
    scaling = job_scaling(config, cluster)
    check_resources([TrainJob(run_worker, {}, scaling, "", "train")], cluster)


def trial_resources(config: PipelineConfig, cluster: dict[str, float] | None = None) -> dict:
    """Per-trial Tune resources as `run.device` resolves (the rule of `job_scaling`): no GPU
    share on `cpu`, or on `auto` when the cluster has no GPU."""
    t = config.ray.tune
    cluster = cluster_resources() if cluster is None else cluster
    device = config.run.device
    no_gpu = device == "cpu" or (device == "auto" and cluster.get("GPU", 0.0) <= 0)
    return {"cpu": t.cpus_per_trial, "gpu": 0.0 if no_gpu else t.gpus_per_trial}
