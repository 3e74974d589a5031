"""Shared fixtures: one Ray session per test run, W&B offline, a tiny real HF causal LM, and one
small real Phase 1 -> 4 run (`small_pipeline`) for the phase and dashboard tests."""

from __future__ import annotations

import gc
import os

import pytest

# Before anything imports ray or wandb: keep everything on loopback and offline.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.pop("RAY_ADDRESS", None)


@pytest.fixture(scope="session")
def ray_session():
    """The one local Ray of the test run: 2 CPUs, no dashboard."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def make_tiny_llama(seed: int = 0):
    """A real (untrained) transformers causal LM of ~1.2M parameters, built locally."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=8192,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(cfg)


@pytest.fixture
def tiny_model():
    return make_tiny_llama()


@pytest.fixture
def forge_home(tmp_path, monkeypatch):
    """An empty Agent Forge home; AGENT_FORGE_HOME points at it."""
    home = tmp_path / "forge_home"
    monkeypatch.setenv("AGENT_FORGE_HOME", str(home))
    return home


# A tiny real Cognate (untrained, vocab 512) and a locally trained BPE, for the scorer and shard
# tests: scores of an untrained model are the chance controls.
@pytest.fixture(scope="session")
def tok():
    import random

    from agent_forge.data import generate, generate_corpus
    from agent_forge.data.lm_text import format_example
    from agent_forge.model.tokenizer import train_tokenizer

    rng = random.Random(0)
    examples = [generate("arithmetic", rng, 1) for _ in range(40)]
    return train_tokenizer(
        generate_corpus(0, min_bytes=20_000) + [format_example(e) for e in examples], 512
    )


@pytest.fixture(scope="session")
def cognate():
    import torch

    from agent_forge.model import CognateForCausalLM, cognate_tiny_config

    torch.manual_seed(0)
    return CognateForCausalLM(cognate_tiny_config(vocab_size=512, act_max_steps=2)).eval()


@pytest.fixture(scope="session")
def cognate_b():
    import torch

    from agent_forge.model import CognateForCausalLM, cognate_tiny_config

    torch.manual_seed(1)
    return CognateForCausalLM(cognate_tiny_config(vocab_size=512, act_max_steps=2)).eval()


@pytest.fixture(scope="session")
def small_pipeline(tmp_path_factory, ray_session):
    """(home, run report) of one real `agent-forge run` from Phase 1 to Phase 4 with the small
    settings of tests/support/phase_runs.py (wiring, not learning): the session stops at
    curriculum (not built). Shared, read-only: the phase tests copy the home (`copy_home`) before
    they run anything in it; the dashboard tests serve it."""
    from tests.support.phase_runs import run_small_pipeline

    home = tmp_path_factory.mktemp("small_pipeline") / "home"
    code, report = run_small_pipeline(home)
    gc.collect()  # the run's registry connections close now (their WAL merged), not mid-test
    assert code == 0 and report["ran"] == ["cognate", "evomerge", "quietstar", "bitnet"], report
    return home, report
