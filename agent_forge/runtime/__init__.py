"""Ray for the pipeline: start or join Ray, weights through the object store, resident models,
and plain training loops as Ray Train jobs.

Names load lazily so `import agent_forge.runtime` imports neither ray nor torch; phases use
this package, the libraries (`model/`, `merging/`, ...) never do.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LOOPBACK_ENV": "ray_runtime",
    "RayHandle": "ray_runtime",
    "apply_loopback_env": "ray_runtime",
    "resolve_address": "ray_runtime",
    "start_ray": "ray_runtime",
    "storage_path": "ray_runtime",
    "train_scaling_config": "ray_runtime",
    "PackedStateDict": "object_store",
    "state_dict_to_numpy": "object_store",
    "numpy_to_state_dict": "object_store",
    "put_state_dict": "object_store",
    "get_state_dict": "object_store",
    "fetch_state_dict": "object_store",
    "ModelHolder": "model_holder",
    "LocalModelHolder": "model_holder",
    "make_holder": "model_holder",
    "ListReporter": "train",
    "Reporter": "train",
    "ResumeState": "train",
    "TrainJob": "train",
    "TrainJobResult": "train",
    "run_train_job": "train",
    "run_train_jobs": "train",
    "JobSpec": "jobs",
    "ModelSource": "jobs",
    "Worker": "jobs",
    "job_spec": "jobs",
    "run_jobs": "jobs",
    "run_worker": "jobs",
    "trial_resources": "jobs",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
