"""Compute manager (device choice, memory fit) and resource monitor (spec §3.3.1, §3.3.2).

System metrics come from psutil and NVML (nvidia-ml-py); a machine without NVML simply has no
GPU metrics — never an error. Units: GB = 1e9 bytes, MB = 1e6 bytes.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

import psutil
import torch
from torch import nn

from agent_forge.core.metrics import (
    SYSTEM_CPU_PERCENT,
    SYSTEM_GPU_TEMPERATURE,
    SYSTEM_GPU_UTILIZATION,
    SYSTEM_RAM_PERCENT,
    SYSTEM_RAM_USED_GB,
    SYSTEM_VRAM_PERCENT,
    SYSTEM_VRAM_USED_GB,
)
from agent_forge.errors import ConfigError

logger = logging.getLogger(__name__)

GB = 1e9
MB = 1e6
# Memory a model needs, as a multiple of its weights (spec §3.3.1). Training holds weights plus
# gradients (2x); CUDA adds 0.5x for allocator fragmentation and kernels' workspaces. Inference
# holds the weights plus ~20% of activations and buffers.
TRAIN_FACTOR_CUDA = 2.5
TRAIN_FACTOR_CPU = 2.0
INFERENCE_FACTOR = 1.2

_NVML_MISSING = "no NVML library: no NVIDIA GPU visible"
_nvml_lock = threading.Lock()
_nvml_state: tuple[bool, str] | None = None  # set once per process by _nvml_init


def _nvml_init() -> tuple[bool, str]:
    """Initialise NVML once per process (nvmlInit can take seconds without persistence mode)."""
    global _nvml_state
    with _nvml_lock:
        if _nvml_state is not None:
            return _nvml_state
        try:
            import pynvml
        except ImportError:
            _nvml_state = (False, "nvidia-ml-py (pynvml) is not installed: no GPU metrics")
            return _nvml_state
        try:
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            driver = _text(pynvml.nvmlSystemGetDriverVersion())
            _nvml_state = (True, f"NVML driver {driver}: {count} NVIDIA GPU(s)")
        except pynvml.NVMLError_LibraryNotFound:
            _nvml_state = (False, _NVML_MISSING)
        except Exception as exc:  # another pynvml.NVMLError (driver not loaded), OSError
            _nvml_state = (False, f"NVML init failed: {exc}")
        return _nvml_state


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _nvml_field(read: Callable[[], Any]) -> Any:
    """One NVML query; None where the GPU does not support it (a metric not measured is None)."""
    try:
        return read()
    except Exception:
        return None


def nvml_status() -> tuple[bool, str]:
    """(NVML usable, a line for `validate`), e.g. (False, 'no NVML library: ...') on a CPU box."""
    return _nvml_init()


def nvml_gpus() -> list[dict[str, Any]]:
    """Every NVIDIA GPU NVML sees (ignores CUDA_VISIBLE_DEVICES); [] without NVML. Never raises."""
    ok, _ = _nvml_init()
    if not ok:
        return []
    import pynvml

    gpus: list[dict[str, Any]] = []
    try:
        count = pynvml.nvmlDeviceGetCount()
    except Exception as exc:
        logger.warning("NVML device count failed: %s", exc)
        return []
    for index in range(count):
        handle = _nvml_field(lambda i=index: pynvml.nvmlDeviceGetHandleByIndex(i))
        if handle is None:
            continue
        memory = _nvml_field(lambda h=handle: pynvml.nvmlDeviceGetMemoryInfo(h))
        gpus.append(
            {
                "index": index,
                "name": _nvml_field(lambda h=handle: _text(pynvml.nvmlDeviceGetName(h))),
                "utilization_percent": _nvml_field(
                    lambda h=handle: float(pynvml.nvmlDeviceGetUtilizationRates(h).gpu)
                ),
                "memory_used_gb": memory.used / GB if memory is not None else None,
                "memory_total_gb": memory.total / GB if memory is not None else None,
                "temperature_c": _nvml_field(
                    lambda h=handle: float(
                        pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU)
                    )
                ),
            }
        )
    return gpus


class ComputeManager:
    """Picks the device and tracks the models placed on it (spec §3.3.1)."""

    def __init__(self, device_preference: str = "auto", min_cuda_capability: int = 6) -> None:
        self.device_preference = device_preference
        self.min_cuda_capability = min_cuda_capability
        self.device = self._detect_device()
        self.current_allocation: dict[str, dict[str, Any]] = {}

    def _detect_device(self) -> torch.device:
        pref = self.device_preference
        if pref not in ("auto", "cpu", "cuda"):
            raise ConfigError("run.device", f"{pref!r} is not one of 'auto', 'cpu', 'cuda'")
        if pref == "cpu":
            return torch.device("cpu")
        if not torch.cuda.is_available():
            if pref == "cuda":
                raise ConfigError(
                    "run.device",
                    f"'cuda' requested but torch {torch.__version__} sees no CUDA device "
                    f"(built with CUDA {torch.version.cuda}); use 'auto' or 'cpu'",
                )
            return torch.device("cpu")
        major, minor = torch.cuda.get_device_capability()
        if major >= self.min_cuda_capability:
            return torch.device("cuda")
        reason = (
            f"GPU {torch.cuda.get_device_name()} has CUDA capability {major}.{minor}, "
            f"below run.min_cuda_capability={self.min_cuda_capability}"
        )
        if pref == "cuda":
            raise ConfigError("run.device", f"'cuda' requested but {reason}")
        logger.warning("%s; falling back to CPU", reason)
        return torch.device("cpu")

    def available_memory(self) -> dict[str, float]:
        """RAM (and on CUDA, VRAM) totals and free amounts in GB, measured now."""
        vm = psutil.virtual_memory()
        memory = {"ram_total_gb": vm.total / GB, "ram_free_gb": vm.available / GB}
        if self.device.type == "cuda":
            free, total = torch.cuda.mem_get_info(self.device)
            memory.update(vram_total_gb=total / GB, vram_free_gb=free / GB)
        return memory

    def required_gb(self, model_size_mb: float, training: bool = True) -> float:
        """Memory (GB) a model of `model_size_mb` of weights needs here; see the *_FACTOR notes."""
        if model_size_mb < 0:
            raise ValueError(f"model_size_mb must be >= 0, got {model_size_mb}")
        if not training:
            factor = INFERENCE_FACTOR
        else:
            factor = TRAIN_FACTOR_CUDA if self.device.type == "cuda" else TRAIN_FACTOR_CPU
        return model_size_mb * MB / GB * factor

    def can_fit_model(self, model_size_mb: float, training: bool = True) -> bool:
        """Whether the free VRAM (CUDA) or RAM (CPU) now exceeds `required_gb`."""
        memory = self.available_memory()
        free = memory["vram_free_gb"] if self.device.type == "cuda" else memory["ram_free_gb"]
        return free > self.required_gb(model_size_mb, training)

    def allocate_model(self, model: nn.Module, model_id: str) -> nn.Module:
        """Move `model` to the device and record its weight+buffer size under `model_id`."""
        if model_id in self.current_allocation:
            raise ValueError(f"model_id {model_id!r} is already allocated; free_model it first")
        model = model.to(self.device)
        tensors = [*model.parameters(), *model.buffers()]
        nbytes = sum(t.numel() * t.element_size() for t in tensors)
        self.current_allocation[model_id] = {
            "model": model,
            "allocated_gb": nbytes / GB,
            "device": self.device,
        }
        return model

    def free_model(self, model_id: str) -> None:
        """Drop our reference to the model and collect; memory returns once callers drop theirs."""
        entry = self.current_allocation.pop(model_id, None)
        if entry is None:
            logger.debug("free_model: %r is not allocated", model_id)
            return
        del entry
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def allocated_gb(self) -> float:
        return sum(entry["allocated_gb"] for entry in self.current_allocation.values())


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


class ResourceMonitor:
    """Samples system/* metrics on a daemon thread (spec §3.3.2).

    `on_sample` gets a copy of each sample (system/* keys and "timestamp"); the driver forwards
    the system/* keys to the MetricsLogger.
    With several GPUs: utilisation is the mean, VRAM is summed, temperature is the hottest.
    """

    def __init__(
        self,
        interval_seconds: float = 5.0,
        on_sample: Callable[[dict[str, Any]], None] | None = None,
        history_size: int = 1000,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError(f"interval_seconds must be > 0, got {interval_seconds}")
        self.interval_seconds = interval_seconds
        self.on_sample = on_sample
        self._history: deque[dict[str, Any]] = deque(maxlen=history_size)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.callback_errors = 0
        psutil.cpu_percent(interval=None)  # prime: later calls measure since this one

    @property
    def history(self) -> list[dict[str, Any]]:
        """A snapshot of the kept samples, oldest first (at most `history_size`)."""
        with self._lock:
            return list(self._history)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def sample(self) -> dict[str, Any]:
        """One sample now: timestamp, system/* CPU and RAM, and GPU keys where NVML sees a GPU."""
        vm = psutil.virtual_memory()
        metrics: dict[str, Any] = {
            "timestamp": time.time(),
            SYSTEM_CPU_PERCENT: psutil.cpu_percent(interval=None),
            SYSTEM_RAM_USED_GB: vm.used / GB,
            SYSTEM_RAM_PERCENT: vm.percent,
        }
        gpus = nvml_gpus()
        if gpus:
            metrics.update(self._gpu_metrics(gpus))
        return metrics

    @staticmethod
    def _gpu_metrics(gpus: list[dict[str, Any]]) -> dict[str, float | None]:
        def known(field: str) -> list[float]:
            return [g[field] for g in gpus if g[field] is not None]

        used, total, temps = (
            known("memory_used_gb"),
            known("memory_total_gb"),
            known("temperature_c"),
        )
        vram_used = sum(used) if used else None
        vram_total = sum(total) if total else None
        return {
            SYSTEM_GPU_UTILIZATION: _mean(known("utilization_percent")),
            SYSTEM_VRAM_USED_GB: vram_used,
            SYSTEM_VRAM_PERCENT: (
                100.0 * vram_used / vram_total if vram_used is not None and vram_total else None
            ),
            SYSTEM_GPU_TEMPERATURE: max(temps) if temps else None,
        }

    def start(self) -> None:
        """Start sampling every `interval_seconds` on a daemon thread; no-op if running."""
        if self.running:
            return
        psutil.cpu_percent(interval=None)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="forge-resource-monitor", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and join; waits at most `timeout` for a sample or callback in progress."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("resource monitor thread still busy after %.1f s", timeout)

    def _loop(self) -> None:
        stop = self._stop
        while not stop.wait(self.interval_seconds):  # first sample after one full interval
            try:
                metrics = self.sample()
            except Exception:
                logger.exception("resource monitor: sample failed")
                continue
            with self._lock:
                self._history.append(metrics)
            if self.on_sample is not None:
                self._call_back(metrics)

    def _call_back(self, metrics: dict[str, Any]) -> None:
        assert self.on_sample is not None
        try:
            self.on_sample(dict(metrics))
        except Exception:
            self.callback_errors += 1
            if self.callback_errors == 1:
                logger.exception("resource monitor: on_sample callback failed (keeps sampling)")
            else:
                logger.debug("resource monitor: on_sample failed again (%d)", self.callback_errors)

    def get_current_metrics(self) -> dict[str, Any]:
        """The latest sample, or a fresh one if none was taken yet."""
        with self._lock:
            if self._history:
                return self._history[-1]
        return self.sample()

    def get_metrics_summary(self) -> dict[str, float | int | None]:
        """Averages and maxima over the kept samples; None for what was never measured."""
        history = self.history

        def values(key: str) -> list[float]:
            return [m[key] for m in history if m.get(key) is not None]

        cpu, ram = values(SYSTEM_CPU_PERCENT), values(SYSTEM_RAM_USED_GB)
        return {
            "samples": len(history),
            "cpu_avg": _mean(cpu),
            "cpu_max": max(cpu) if cpu else None,
            "ram_avg_gb": _mean(ram),
            "ram_max_gb": max(ram) if ram else None,
            "gpu_util_avg": _mean(values(SYSTEM_GPU_UTILIZATION)),
            "vram_avg_gb": _mean(values(SYSTEM_VRAM_USED_GB)),
        }

    def __enter__(self) -> ResourceMonitor:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
