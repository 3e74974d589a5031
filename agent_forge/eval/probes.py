"""Probes (ARCHITECTURE §8): forward latency at batch × sequence length, throughput, peak memory
and bytes on disk. Plain torch; every number is measured here, on the model or path given, with
what it was measured under (threads, device, repeats). Overview: docs/eval/README.md#probes.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

CUDA_METHOD = "torch.cuda.max_memory_allocated"
CPU_METHOD = "torch.autograd.profiler allocation events"


@dataclass(frozen=True)
class Latency:
    """Wall-clock milliseconds of one forward over (batch_size, seq_len) token ids."""

    median_ms: float
    p90_ms: float
    times_ms: tuple[float, ...]
    batch_size: int
    seq_len: int
    warmup: int
    threads: int  # torch intra-op threads while timing
    device: str

    @property
    def median_s(self) -> float:
        return self.median_ms / 1000.0

    @property
    def tokens_per_s(self) -> float:
        """Tokens of one forward over its median time."""
        return self.batch_size * self.seq_len / self.median_s


@dataclass(frozen=True)
class PeakMemory:
    """Peak bytes of tensor memory while `fn` ran, above what was live when it started: what it
    needed on top. `bytes` is None (with `reason`) where it could not be measured."""

    bytes: int | None
    device: str
    method: str
    reason: str | None = None


def model_device(model: Any) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model with neither)."""
    for t in [*model.parameters(), *model.buffers()]:
        return t.device
    return torch.device("cpu")


def random_ids(model: Any, batch_size: int, seq_len: int, seed: int = 0) -> torch.Tensor:
    """(batch_size, seq_len) token ids drawn from the model's vocabulary, on its device."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, int(model.config.vocab_size), (batch_size, seq_len), generator=gen)
    return ids.to(model_device(model))


def latency_threads() -> int:
    """Intra-op threads for a latency probe: OMP_NUM_THREADS if set, else torch's."""
    return int(os.environ.get("OMP_NUM_THREADS") or torch.get_num_threads())


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values`, linear between the closest ranks (numpy's default)."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def measure_latency(
    model: Any,
    seq_len: int,
    repeats: int = 5,
    *,
    warmup: int = 1,
    threads: int | None = None,
    batch_size: int = 1,
    seed: int = 0,
) -> Latency:
    """Time `repeats` forwards of `model` (as it is: call .eval() first) on random ids, after
    `warmup` untimed ones. `threads` pins torch's intra-op threads while timing, then restores
    them. On CUDA the device is synchronised around each forward, so the time is the kernels'."""
    if min(repeats, seq_len, batch_size) < 1 or warmup < 0:
        raise ValueError(
            "need repeats, seq_len, batch_size >= 1 and warmup >= 0; got "
            f"{repeats}, {seq_len}, {batch_size}, {warmup}"
        )
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        ids = random_ids(model, batch_size, seq_len, seed)
        device = ids.device
        for _ in range(warmup):
            model(input_ids=ids)
        times = []
        for _ in range(repeats):
            _sync(device)
            t0 = time.perf_counter()
            model(input_ids=ids)
            _sync(device)
            times.append(1000.0 * (time.perf_counter() - t0))
        used = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    return Latency(
        median_ms=statistics.median(times),
        p90_ms=percentile(times, 0.9),
        times_ms=tuple(times),
        batch_size=batch_size,
        seq_len=seq_len,
        warmup=warmup,
        threads=used,
        device=str(device),
    )


def measure_throughput(
    model: Any, batch_size: int, seq_len: int, repeats: int = 5, **latency: Any
) -> float:
    """Tokens per second of forwards over (batch_size, seq_len): batch_size * seq_len over the
    median of `measure_latency` (same keywords: warmup, threads, seed)."""
    return measure_latency(model, seq_len, repeats, batch_size=batch_size, **latency).tokens_per_s


def peak_memory(fn: Callable[[], Any], device: str | torch.device = "cpu") -> PeakMemory:
    """Run `fn` once and measure the peak of tensor memory on `device` above its start.

    CUDA: torch.cuda.max_memory_allocated after a reset of the peak. CPU: the running sum of the
    profiler's allocation and free events of tensors made during `fn` (the CPU allocator keeps
    no counters; an RSS delta misses a peak freed again, tracemalloc misses torch's C
    allocations). A free of an older tensor is not seen on CPU, so it offsets nothing there.
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        return _cuda_peak(fn, dev)
    if dev.type == "cpu":
        return _cpu_peak(fn)
    fn()
    return PeakMemory(None, str(dev), "none", f"no peak-memory probe for {dev.type}")


def _cuda_peak(fn: Callable[[], Any], dev: torch.device) -> PeakMemory:
    torch.cuda.synchronize(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    start = torch.cuda.memory_allocated(dev)
    fn()
    torch.cuda.synchronize(dev)
    return PeakMemory(torch.cuda.max_memory_allocated(dev) - start, str(dev), CUDA_METHOD)


def _cpu_peak(fn: Callable[[], Any]) -> PeakMemory:
    from torch.autograd.profiler import profile

    if torch.autograd._profiler_enabled():  # a second one would stop the caller's
        fn()
        return PeakMemory(None, "cpu", CPU_METHOD, "a profiler is already running")
    with profile(profile_memory=True) as prof:
        fn()
    results = getattr(prof, "kineto_results", None)
    if results is None:
        return PeakMemory(None, "cpu", CPU_METHOD, "this torch's profiler keeps no events")
    events = [e for e in results.events() if e.name() == "[memory]"]
    events = [e for e in events if e.device_type() == torch.autograd.DeviceType.CPU]
    live = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):  # stable: same-ns events keep order
        live += e.nbytes()  # < 0 for a free
        peak = max(peak, live)
    return PeakMemory(peak, "cpu", CPU_METHOD)


@torch.no_grad()
def forward_peak_memory(model: Any, seq_len: int, batch_size: int = 1, seed: int = 0) -> PeakMemory:
    """Peak tensor memory of one forward over (batch_size, seq_len) random ids, beyond the
    weights and whatever else was live before it (activations, cache, logits)."""
    ids = random_ids(model, batch_size, seq_len, seed)
    return peak_memory(lambda: model(input_ids=ids), ids.device)


def resident_bytes(model: Any) -> int:
    """Bytes of the model's parameters and buffers in memory (a tied tensor counted once)."""
    seen: dict[int, int] = {}
    for t in [*model.parameters(), *model.buffers()]:
        seen[t.data_ptr()] = max(seen.get(t.data_ptr(), 0), t.numel() * t.element_size())
    return sum(seen.values())


def bytes_on_disk(path: str | Path) -> int:
    """Bytes of a file, or of all files under a folder summed (sizes, not blocks). A file reached
    twice (hard or symbolic links) counts once; links to folders are not followed."""
    p = Path(path)
    if not p.is_dir():
        return p.stat().st_size  # FileNotFoundError for a missing path
    sizes: dict[tuple[int, int], int] = {}
    for root, _dirs, files in os.walk(p):
        for name in files:
            try:
                st = os.stat(os.path.join(root, name))  # follows a link to its file
            except FileNotFoundError:  # a dangling link holds no bytes
                continue
            sizes[(st.st_dev, st.st_ino)] = st.st_size
    return sum(sizes.values())
