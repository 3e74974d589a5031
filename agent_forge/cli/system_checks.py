"""The checks behind `agent-forge validate`. Each returns {name, status: pass|fail|absent, detail}.

`absent` is for optional hardware (a GPU): reported, never a failure.
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent_forge.config import PipelineConfig
from agent_forge.core.home import Home

REQUIRED_MODULES = (
    "torch",
    "ray",
    "ray.tune",
    "ray.train",
    "transformers",
    "tokenizers",
    "deap",
    "wandb",
    "safetensors",
    "pyarrow",
    "pynvml",
    "pydantic",
    "jsonschema",
    "psutil",
    "rich",
    "click",
    "yaml",
)
MIN_FREE_DISK_GB = 5.0


def _check(name: str, fn: Callable[[], tuple[str, str]]) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        status, detail = fn()
    except Exception as exc:  # a check reports what broke; it never crashes validate
        status, detail = "fail", f"{type(exc).__name__}: {exc}"
    return {
        "name": name,
        "status": status,
        "detail": detail,
        "seconds": round(time.perf_counter() - start, 3),
    }


def check_imports() -> tuple[str, str]:
    missing, versions = [], []
    for mod in REQUIRED_MODULES:
        try:
            m = importlib.import_module(mod)
        except Exception as exc:
            missing.append(f"{mod} ({type(exc).__name__})")
            continue
        if "." not in mod and hasattr(m, "__version__"):
            versions.append(f"{mod} {m.__version__}")
    if missing:
        return "fail", "cannot import: " + ", ".join(missing)
    return "pass", ", ".join(versions)


def check_ray(cfg: PipelineConfig) -> tuple[str, str]:
    from agent_forge.runtime.ray_runtime import resolve_address, run_trivial_task, start_ray

    handle = start_ray(cfg.ray, resolve_address(None, cfg.ray), dashboard=False)
    try:
        value = run_trivial_task(timeout_s=60)
        cpus = handle.resources.get("CPU", 0)
        if value != 42:
            return "fail", f"a Ray task returned {value!r}"
        return "pass", f"{handle.address}: {handle.node_count} node(s), {cpus:g} CPU; a task ran"
    finally:
        handle.shutdown()


def check_registry() -> tuple[str, str]:
    from agent_forge.core.registry import ModelRegistry

    with tempfile.TemporaryDirectory() as tmp:
        reg = ModelRegistry(Path(tmp) / "registry.db")
        sid = str(uuid.uuid4())
        reg.create_session(sid, "validate", {"check": True})
        reg.log_metrics(sid, None, 0, {"validate/value": 1.5})
        back = reg.get_metrics(sid)
        ok = reg.get_session(sid)["session_id"] == sid and back and back[0]["value"] == 1.5
        return ("pass", "SQLite WAL write/read round trip") if ok else ("fail", "read back differs")


def check_wandb() -> tuple[str, str]:
    from agent_forge.core.metrics import check_wandb_offline

    with tempfile.TemporaryDirectory() as tmp:
        ok, detail = check_wandb_offline(Path(tmp))
    return ("pass" if ok else "fail"), detail


def check_disk(home: Home) -> tuple[str, str]:
    probe = home.root if home.root.exists() else home.root.parent
    while not probe.exists():
        probe = probe.parent
    free_gb = shutil.disk_usage(probe).free / 1e9
    status = "pass" if free_gb >= MIN_FREE_DISK_GB else "fail"
    return status, f"{free_gb:.1f} GB free at {probe} (need {MIN_FREE_DISK_GB:g} GB)"


def check_gpu() -> tuple[str, str]:
    from agent_forge.core.compute import nvml_gpus, nvml_status

    ok, detail = nvml_status()
    if not ok:
        return "absent", detail
    gpus = nvml_gpus()
    return "pass", "; ".join(f"{g['name']} {g['memory_total_gb']:.1f} GB" for g in gpus) or detail


def run_checks(cfg: PipelineConfig, home: Home) -> list[dict[str, Any]]:
    return [
        _check("imports", check_imports),
        _check("ray", lambda: check_ray(cfg)),
        _check("registry", check_registry),
        _check("wandb offline", check_wandb),
        _check("disk space", lambda: check_disk(home)),
        _check("gpu (nvml)", check_gpu),
    ]
