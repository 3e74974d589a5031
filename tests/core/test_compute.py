"""ComputeManager, ResourceMonitor and NVML helpers, on the real machine (CPU here)."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from torch import nn

from agent_forge.config.schema import WandbConfig
from agent_forge.core.compute import (
    INFERENCE_FACTOR,
    TRAIN_FACTOR_CPU,
    ComputeManager,
    ResourceMonitor,
    nvml_gpus,
    nvml_status,
)
from agent_forge.core.home import Home
from agent_forge.core.metrics import (
    SYSTEM_CPU_PERCENT,
    SYSTEM_GPU_UTILIZATION,
    SYSTEM_RAM_PERCENT,
    SYSTEM_RAM_USED_GB,
    MetricsLogger,
    read_metrics,
)
from agent_forge.errors import UserInputError

NO_CUDA = not torch.cuda.is_available()
BASE_KEYS = {"timestamp", SYSTEM_CPU_PERCENT, SYSTEM_RAM_USED_GB, SYSTEM_RAM_PERCENT}


@pytest.mark.skipif(not NO_CUDA, reason="checks the CPU fallback")
def test_device_is_cpu_without_cuda():
    assert ComputeManager().device.type == "cpu"
    assert ComputeManager("cpu").device.type == "cpu"


@pytest.mark.skipif(not NO_CUDA, reason="checks the no-CUDA error")
def test_cuda_preference_without_cuda_names_run_device():
    with pytest.raises(UserInputError, match="run.device"):
        ComputeManager("cuda")


def test_unknown_preference_names_run_device():
    with pytest.raises(UserInputError, match="run.device"):
        ComputeManager("tpu")


def test_available_memory_positive():
    memory = ComputeManager("cpu").available_memory()
    assert memory["ram_total_gb"] > 0 and 0 < memory["ram_free_gb"] <= memory["ram_total_gb"]


def test_can_fit_model():
    cm = ComputeManager("cpu")
    assert cm.can_fit_model(1.0)
    assert not cm.can_fit_model(10e6)  # 10 TB
    assert cm.required_gb(1000.0) == pytest.approx(TRAIN_FACTOR_CPU)
    assert cm.required_gb(1000.0, training=False) == pytest.approx(INFERENCE_FACTOR)
    with pytest.raises(ValueError):
        cm.required_gb(-1.0)


def test_allocate_and_free_model():
    cm = ComputeManager("cpu")
    model = cm.allocate_model(nn.Linear(100, 10), "m1")  # 1010 float32 = 4040 bytes
    assert next(model.parameters()).device.type == "cpu"
    assert cm.allocated_gb() == pytest.approx(4040 / 1e9)
    with pytest.raises(ValueError, match="m1"):
        cm.allocate_model(nn.Linear(2, 2), "m1")
    cm.free_model("m1")
    assert cm.current_allocation == {} and cm.allocated_gb() == 0
    cm.free_model("m1")  # freeing twice is harmless


def test_nvml_absent_is_not_an_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert nvml_gpus() == []
    ok, message = nvml_status()
    assert ok is False and "NVML" in message


def test_monitor_samples_and_stops_promptly():
    seen: list[dict] = []
    monitor = ResourceMonitor(interval_seconds=0.05, on_sample=seen.append)
    monitor.start()
    time.sleep(0.5)
    start = time.perf_counter()
    monitor.stop()
    assert time.perf_counter() - start < 1.0
    assert not monitor.running
    history = monitor.history
    assert len(history) >= 3
    for sample in history:
        assert BASE_KEYS <= sample.keys()
        assert 0 <= sample[SYSTEM_CPU_PERCENT] <= 100 and sample[SYSTEM_RAM_USED_GB] > 0
    assert len(seen) == len(history)
    assert seen == history and seen[0] is not history[0]  # a copy: the sink may mutate it


def test_stop_returns_promptly_with_long_interval():
    monitor = ResourceMonitor(interval_seconds=60.0)
    monitor.start()
    start = time.perf_counter()
    monitor.stop()
    assert time.perf_counter() - start < 1.0
    assert monitor.history == []


def test_summary_gpu_values_none_without_gpu():
    with ResourceMonitor(interval_seconds=0.05) as monitor:
        time.sleep(0.3)
    summary = monitor.get_metrics_summary()
    assert summary["samples"] >= 3
    assert summary["cpu_avg"] is not None and summary["ram_max_gb"] > 0
    if not nvml_gpus():
        assert summary["gpu_util_avg"] is None and summary["vram_avg_gb"] is None
        assert SYSTEM_GPU_UTILIZATION not in monitor.get_current_metrics()


def test_empty_summary_is_all_none():
    summary = ResourceMonitor().get_metrics_summary()
    assert summary["samples"] == 0
    assert all(v is None for k, v in summary.items() if k != "samples")


def test_callback_exceptions_do_not_kill_the_thread():
    calls = threading.Event()
    count = 0

    def explode(metrics: dict) -> None:
        nonlocal count
        count += 1
        if count >= 3:
            calls.set()
        raise RuntimeError("sink down")

    with ResourceMonitor(interval_seconds=0.05, on_sample=explode) as monitor:
        assert calls.wait(2.0)
        assert monitor.running
    assert monitor.callback_errors >= 3
    assert len(monitor.history) >= 3


def test_history_is_bounded():
    with ResourceMonitor(interval_seconds=0.01, history_size=3) as monitor:
        time.sleep(0.2)
    assert len(monitor.history) == 3


def test_get_current_metrics_without_history_samples_now():
    sample = ResourceMonitor().get_current_metrics()
    assert BASE_KEYS <= sample.keys()


def test_samples_reach_metrics_logger(tmp_path):
    home = Home(tmp_path / "home")
    with MetricsLogger(home, "s1", wandb_cfg=WandbConfig(mode="disabled")) as ml:

        def forward(sample: dict) -> None:
            system = {k: v for k, v in sample.items() if k.startswith("system/")}
            ml.log(system, step=int(sample["timestamp"] * 1000), phase="cognate")

        with ResourceMonitor(interval_seconds=0.05, on_sample=forward) as monitor:
            time.sleep(0.3)
    rows = read_metrics(home, "s1", phase="cognate", key_prefix="system/")
    assert len(rows) == 3 * len(monitor.history) >= 9  # cpu, ram used, ram percent per sample
    assert {r["key"] for r in rows} == BASE_KEYS - {"timestamp"}
