"""Run a plain `train_loop(cfg, report, resume)` as a Ray Train V2 `TorchTrainer` job, resumable.

The loop never imports Ray: `runtime/` hands it a `Reporter` (Ray checkpoints here, a list in
tests) and the restored `ResumeState`. Semantics and measurements: docs/training-runtime.md.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agent_forge.config.schema import RayConfig, RayTrainScalingConfig
from agent_forge.core.checkpoints import EXTRA_FILE, MANIFEST_FILE, WEIGHTS_FILE, detached_tensors
from agent_forge.errors import UserInputError

if TYPE_CHECKING:
    from torch import Tensor

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"  # the metrics reported with this checkpoint ("step" = resume step)
HISTORY_FILE = "history.json"  # every metrics dict reported up to this checkpoint, across resumes
KEEP_CHECKPOINTS = 5
_JOBS = "_jobs"  # run_train_jobs' own resource: the number of jobs it runs at once
Json = dict[str, Any]
State = dict[str, "Tensor"]


class Reporter(Protocol):
    def report(self, metrics: Json, state: State | None = None, extra: Json | None = None) -> None:
        """Record `metrics` (put an int "step" in them); with `state`, also a checkpoint."""


@dataclass
class ResumeState:
    """What the latest checkpoint held: weights, the JSON `extra`, and metrics["step"]."""

    state: State
    extra: Json
    step: int


TrainLoop = Callable[[Json, Reporter, ResumeState | None], Any]


def _step(metrics: Json) -> int:
    """The step a checkpoint resumes after: metrics["step"], required with state."""
    step = metrics.get("step")
    if not isinstance(step, int):
        raise ValueError(f'a report with state needs an int metrics["step"], got {step!r}')
    return step


@dataclass
class ListReporter:
    """In-process reporter (tests, no Ray): every metrics dict, and the latest checkpoint."""

    metrics: list[Json] = field(default_factory=list)
    _latest: ResumeState | None = None

    def report(self, metrics: Json, state: State | None = None, extra: Json | None = None) -> None:
        self.metrics.append(dict(metrics))
        if state is not None:  # clone: the loop keeps mutating its tensors in place
            tensors = {k: v.clone() for k, v in detached_tensors(state).items()}
            self._latest = ResumeState(tensors, dict(extra or {}), _step(metrics))

    def latest_state(self) -> ResumeState | None:
        return self._latest


class _RayReporter:
    """Inside a Train worker: state -> temp dir (safetensors + JSON) -> `ray.train.report`."""

    def __init__(self, history: list[Json]):
        import ray.train

        self.history = history
        self.first_report_at: float | None = None
        self.last_report_at: float | None = None
        self.rank = ray.train.get_context().get_world_rank()

    def report(self, metrics: Json, state: State | None = None, extra: Json | None = None) -> None:
        import ray.train
        from safetensors.torch import save_file

        self.first_report_at = self.first_report_at or time.time()
        self.history.append(dict(metrics))
        if state is None or self.rank != 0:  # every rank reports; rank 0 alone saves state
            ray.train.report(dict(metrics))
        else:
            _step(metrics)
            with tempfile.TemporaryDirectory(prefix="af_ckpt_") as tmp:
                save_file(detached_tensors(state), str(Path(tmp, WEIGHTS_FILE)))
                manifest = {"step": metrics["step"], "sha256": _hashes(tmp)}
                files = {EXTRA_FILE: extra or {}, METRICS_FILE: metrics, HISTORY_FILE: self.history}
                files[MANIFEST_FILE] = manifest
                for file, obj in files.items():
                    Path(tmp, file).write_text(json.dumps(obj), encoding="utf-8")
                # SYNC upload (the default): copied to storage before report returns, so the
                # temp folder may go. The report itself waits for the controller's next poll.
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
                ray.train.report(dict(metrics), checkpoint=checkpoint)
        self.last_report_at = time.time()


def _hashes(folder: str) -> dict[str, str]:
    from agent_forge.core.storage import sha256_file

    return {WEIGHTS_FILE: sha256_file(Path(folder, WEIGHTS_FILE))}


def load_checkpoint_state(path: str | Path) -> State:
    """The tensors of a job checkpoint folder, verified against its manifest's SHA-256 (a
    mismatch or a missing manifest is an `IntegrityError`, never a silent load)."""
    from agent_forge.core.storage import load_state_dict
    from agent_forge.errors import IntegrityError

    manifest_path = Path(path, MANIFEST_FILE)
    try:
        hashes = dict(json.loads(manifest_path.read_text(encoding="utf-8"))["sha256"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise IntegrityError(str(manifest_path), f"unreadable checkpoint manifest: {e}") from e
    return load_state_dict(path, hashes)


def trained_weights(result: TrainJobResult) -> State:
    """The model weights of a finished job's latest checkpoint, hash-checked."""
    from agent_forge.training.train_state import model_weights

    if result.checkpoint_path is None:
        raise RuntimeError(f"train job {result.name} left no checkpoint")
    return model_weights(load_checkpoint_state(result.checkpoint_path))


def _read_checkpoint(path: str) -> tuple[ResumeState, list[Json]]:
    metrics, history, extra = (
        json.loads(Path(path, f).read_text(encoding="utf-8"))
        for f in (METRICS_FILE, HISTORY_FILE, EXTRA_FILE)
    )
    return ResumeState(load_checkpoint_state(path), extra, metrics["step"]), history


def _worker_fn(loop: TrainLoop) -> Callable[[Json], Json]:
    def train_loop_per_worker(loop_config: Json) -> Json:
        import ray.train

        resume, history = None, []
        checkpoint = ray.train.get_checkpoint()  # the run's latest, restored from storage
        if checkpoint is not None:
            with checkpoint.as_directory() as d:
                resume, history = _read_checkpoint(d)
        reporter = _RayReporter(history)
        value = loop(loop_config, reporter, resume)
        return {"value": value, "restored_step": resume and resume.step, **vars(reporter)}

    return train_loop_per_worker


@dataclass
class TrainJobResult:
    """One job. `history` spans resumes. Of `wall_s` (fit() called -> returned), `startup_s` is
    submitted -> first report, `train_s` first -> last report, the rest is Ray's teardown; both
    are None when the loop reported nothing this time (e.g. a finished run started again)."""

    name: str
    value: Any
    history: list[Json]
    checkpoint_path: str | None
    restored_step: int | None
    wall_s: float
    startup_s: float | None
    train_s: float | None
    run_path: str


def run_train_job(
    loop: TrainLoop,
    loop_config: Json,
    scaling: RayTrainScalingConfig,
    storage_path: str,
    name: str,
    keep: int = KEEP_CHECKPOINTS,
) -> TrainJobResult:
    """Run `loop` on Ray Train workers; resume from storage_path/name's latest checkpoint if a
    run of that name was interrupted there. Failures raise `ray.train.TrainingFailedError`."""
    from ray.train import CheckpointConfig, RunConfig
    from ray.train.torch import TorchTrainer

    from agent_forge.runtime.ray_runtime import train_scaling_config

    keep_config = CheckpointConfig(num_to_keep=keep)
    trainer = TorchTrainer(
        _worker_fn(loop),
        train_loop_config=loop_config,
        scaling_config=train_scaling_config(RayConfig(train=scaling)),
        run_config=RunConfig(name=name, storage_path=storage_path, checkpoint_config=keep_config),
    )
    t0 = time.time()
    result = trainer.fit()
    out = result.return_value or {}
    first, last = out.get("first_report_at"), out.get("last_report_at")
    return TrainJobResult(
        name=name,
        value=out.get("value"),
        history=list(out.get("history") or []),
        checkpoint_path=result.checkpoint.path if result.checkpoint else None,
        restored_step=out.get("restored_step"),
        wall_s=time.time() - t0,
        startup_s=None if first is None else first - t0,
        train_s=None if first is None or last is None else last - first,
        run_path=str(result.path),
    )


@dataclass
class TrainJob:
    """The arguments of one `run_train_job` call."""

    loop: TrainLoop
    loop_config: Json
    scaling: RayTrainScalingConfig
    storage_path: str
    name: str
    keep: int = KEEP_CHECKPOINTS  # checkpoints kept on storage (registry.keep_checkpoints)


def job_resources(scaling: RayTrainScalingConfig) -> dict[str, float]:
    """What a job holds: its workers' CPUs / GPUs (the V2 controller and helpers ask for 0)."""
    need = {"CPU": scaling.num_workers * scaling.cpus_per_worker}
    if scaling.use_gpu:  # train_scaling_config's rule: 1 GPU per worker when unset
        need["GPU"] = scaling.num_workers * (scaling.gpus_per_worker or 1.0)
    return need


class ResourceError(UserInputError):
    """A job asks for more of a resource than the whole Ray cluster has: it would wait forever."""


def check_resources(jobs: list[TrainJob], cluster: dict[str, float]) -> None:
    """Raise `ResourceError` (exit code 2) naming the job, the resource, the amount asked and
    what the cluster has, for the first job that could never be scheduled on `cluster`."""
    for job in jobs:
        for key, need in job_resources(job.scaling).items():
            have = float(cluster.get(key, 0.0))
            if need > have + 1e-9:
                have_all = ", ".join(
                    f"{k} {v:g}" for k, v in sorted(cluster.items()) if k in ("CPU", "GPU")
                )
                hint = (
                    "set run.device to cpu (or auto), or ray.train.use_gpu to false, or join a "
                    "cluster with a GPU (--address)"
                    if key == "GPU"
                    else "lower ray.train.num_workers or ray.train.cpus_per_worker"
                )
                raise ResourceError(
                    f"train job {job.name} asks for {key} {need:g} (ray.train: "
                    f"{job.scaling.num_workers} worker(s)); the Ray cluster has {key} {have:g} "
                    f"({have_all}): {hint}"
                )


def run_train_jobs(jobs: list[TrainJob], max_concurrent: int | None = None) -> list[TrainJobResult]:
    """Run `jobs` at once while their CPUs / GPUs fit in what the cluster has free now (and at
    most `max_concurrent`), the others as earlier ones finish; results in `jobs` order.

    A job larger than the free resources runs alone. Every job runs even if one fails; the
    first failure is then raised (finished runs are on disk: a rerun resumes or skips them).
    """
    import ray

    if max_concurrent is not None and max_concurrent < 1:
        raise ValueError(f"max_concurrent must be at least 1 or None, got {max_concurrent}")
    check_resources(jobs, {k: float(v) for k, v in ray.cluster_resources().items()})
    free = Counter({k: float(v) for k, v in ray.available_resources().items()})
    free[_JOBS] = max_concurrent or len(jobs)  # the job limit is one more resource
    outcomes: list[TrainJobResult | BaseException | None] = [None] * len(jobs)
    held: Counter[str] = Counter()
    cond = threading.Condition()

    def worker(i: int, need: Counter[str]) -> None:
        try:
            outcomes[i] = run_train_job(**vars(jobs[i]))
        except BaseException as e:  # re-raised in the caller's thread below
            outcomes[i] = e
        finally:
            with cond:
                held.subtract(need)
                cond.notify_all()

    def fits(need: Counter[str]) -> bool:  # with nothing running a job goes anyway; Ray waits
        return held[_JOBS] == 0 or all(held[k] + v <= free[k] + 1e-9 for k, v in need.items())

    threads = []
    for i, job in enumerate(jobs):
        need = Counter({**job_resources(job.scaling), _JOBS: 1.0})
        with cond:
            cond.wait_for(lambda n=need: fits(n))
            held.update(need)
        log.info("train job %s starts (%s; %d running)", job.name, dict(need), held[_JOBS])
        threads.append(threading.Thread(target=worker, args=(i, need), daemon=True))
        threads[-1].start()
    for t in threads:
        t.join()
    if errors := [o for o in outcomes if isinstance(o, BaseException)]:
        raise errors[0]
    return [o for o in outcomes if isinstance(o, TrainJobResult)]
