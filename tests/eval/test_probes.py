"""The probes of eval/probes.py on the tiny real Cognate and on stand-ins with known costs. No
assert compares two timings: only positivity, structure, and floors that a sleep guarantees."""

from __future__ import annotations

import math
import os
import time
from types import SimpleNamespace

import pytest
import torch

from agent_forge.eval import probes


class _Sleeper(torch.nn.Module):
    """A stand-in LM: each forward sleeps `per_token_s` per token and records its input ids."""

    def __init__(self, per_token_s: float = 0.0, vocab: int = 50):
        super().__init__()
        self.config = SimpleNamespace(vocab_size=vocab)
        self.w = torch.nn.Parameter(torch.zeros(3))
        self.per_token_s = per_token_s
        self.seen: list[torch.Tensor] = []

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        self.seen.append(input_ids)
        time.sleep(self.per_token_s * input_ids.numel())
        return input_ids


def test_latency_of_the_real_model_is_positive_finite_and_described(cognate):
    threads_before = torch.get_num_threads()
    lat = probes.measure_latency(cognate, 16, repeats=3, threads=1)
    assert len(lat.times_ms) == 3
    assert all(math.isfinite(t) and t > 0 for t in lat.times_ms)
    assert min(lat.times_ms) <= lat.median_ms <= lat.p90_ms <= max(lat.times_ms)
    assert (lat.batch_size, lat.seq_len, lat.warmup, lat.threads) == (1, 16, 1, 1)
    assert lat.device == "cpu" and lat.median_s == lat.median_ms / 1000
    assert torch.get_num_threads() == threads_before  # pinned for the measurement only


def test_latency_runs_warmup_plus_repeats_on_ids_of_the_asked_shape():
    model = _Sleeper(per_token_s=0.002, vocab=7)
    lat = probes.measure_latency(model, 5, repeats=4, warmup=2, batch_size=3)
    assert len(model.seen) == 6
    assert all(ids.shape == (3, 5) and 0 <= ids.min() and ids.max() < 7 for ids in model.seen)
    assert torch.equal(model.seen[0], model.seen[-1])  # one fixed input, seeded
    assert min(lat.times_ms) >= 1000 * 0.002 * 15  # a sleep is a floor, never a ceiling


def test_throughput_is_tokens_over_the_median_time(cognate):
    model = _Sleeper(per_token_s=0.001)
    tps = probes.measure_throughput(model, batch_size=4, seq_len=8, repeats=2, warmup=0)
    assert 0 < tps <= 32 / (0.001 * 32)  # each forward sleeps >= 32 ms for 32 tokens
    real = probes.measure_throughput(cognate, batch_size=2, seq_len=8, repeats=2)
    assert math.isfinite(real) and real > 0


def test_bad_latency_arguments_are_refused():
    with pytest.raises(ValueError, match="repeats"):
        probes.measure_latency(_Sleeper(), 4, repeats=0)


def test_percentile_interpolates_between_ranks():
    assert probes.percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.9) == pytest.approx(4.6)
    assert probes.percentile([1.0, 2.0, 3.0], 0.5) == 2.0
    assert probes.percentile([7.0], 0.9) == 7.0


def test_cpu_peak_memory_is_the_peak_not_the_total():
    small = probes.peak_memory(lambda: torch.ones(100_000))
    big = probes.peak_memory(lambda: torch.ones(1_000_000))
    assert small.bytes is not None and big.bytes is not None
    assert small.bytes >= 400_000 and big.bytes >= 4_000_000 and big.bytes > small.bytes

    def one_at_a_time() -> None:
        for _ in range(4):
            torch.ones(250_000).sum()  # 1 MB, freed before the next

    seq = probes.peak_memory(one_at_a_time)
    assert seq.bytes is not None and 1_000_000 <= seq.bytes < 2_000_000
    assert (seq.device, seq.method, seq.reason) == ("cpu", probes.CPU_METHOD, None)


def test_peak_memory_inside_another_profiler_says_why_it_is_none():
    ran = []
    with torch.autograd.profiler.profile():
        res = probes.peak_memory(lambda: ran.append(1))
    assert ran == [1] and res.bytes is None and "profiler" in (res.reason or "")


def test_forward_peak_memory_grows_with_the_sequence(cognate):
    short = probes.forward_peak_memory(cognate, 8)
    long = probes.forward_peak_memory(cognate, 64)
    assert short.bytes is not None and long.bytes is not None
    assert 0 < short.bytes < long.bytes  # activations and logits scale with tokens


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_probes(cognate):
    peak = probes.peak_memory(lambda: torch.ones(1_000_000, device="cuda"), "cuda")
    assert peak.method == probes.CUDA_METHOD and (peak.bytes or 0) >= 4_000_000
    model = type(cognate)(cognate.config).to("cuda").eval()
    lat = probes.measure_latency(model, 16, repeats=2)
    assert lat.device.startswith("cuda") and lat.median_ms > 0


def test_resident_bytes_counts_a_tied_tensor_once(cognate):
    expected = sum(t.numel() * t.element_size() for t in cognate.parameters())
    expected += sum(t.numel() * t.element_size() for t in cognate.buffers())
    assert probes.resident_bytes(cognate) == expected
    lin = torch.nn.Linear(4, 4, bias=False)
    lin.register_buffer("alias", lin.weight.detach())  # another tensor, the same storage
    assert probes.resident_bytes(lin) == 4 * 4 * 4


def test_bytes_on_disk_of_a_file_and_of_a_folder(tmp_path, cognate):
    cognate.save_pretrained(tmp_path / "model")
    (tmp_path / "model" / "sub").mkdir()
    (tmp_path / "model" / "sub" / "notes.txt").write_text("x" * 123)
    files = [os.path.join(r, f) for r, _, fs in os.walk(tmp_path / "model") for f in fs]
    assert len(files) >= 3
    assert probes.bytes_on_disk(tmp_path / "model") == sum(os.path.getsize(f) for f in files)
    weights = tmp_path / "model" / "model.safetensors"
    assert probes.bytes_on_disk(weights) == os.path.getsize(weights)
    (tmp_path / "model" / "again.safetensors").symlink_to(weights)  # the same file twice
    assert probes.bytes_on_disk(tmp_path / "model") == sum(os.path.getsize(f) for f in files)
    with pytest.raises(FileNotFoundError):
        probes.bytes_on_disk(tmp_path / "missing")
