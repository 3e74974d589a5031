"""A tiny real Cognate model and a locally trained BPE, shared by the scorer tests."""

from __future__ import annotations

import random

import pytest
import torch

from agent_forge.data import generate, generate_corpus
from agent_forge.data.lm_text import format_example
from agent_forge.model import CognateForCausalLM, cognate_tiny_config
from agent_forge.model.tokenizer import train_tokenizer


@pytest.fixture(scope="session")
def tok():
    rng = random.Random(0)
    examples = [generate("arithmetic", rng, 1) for _ in range(40)]
    return train_tokenizer(
        generate_corpus(0, min_bytes=20_000) + [format_example(e) for e in examples], 512
    )


@pytest.fixture(scope="session")
def cognate():
    torch.manual_seed(0)
    return CognateForCausalLM(cognate_tiny_config(vocab_size=512, act_max_steps=2)).eval()


@pytest.fixture(scope="session")
def cognate_b():
    torch.manual_seed(1)
    return CognateForCausalLM(cognate_tiny_config(vocab_size=512, act_max_steps=2)).eval()
