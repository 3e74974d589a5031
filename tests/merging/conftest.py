"""Tiny real Cognate state dicts: the shared init (base) and three parents from other seeds."""

from __future__ import annotations

import pytest
import torch

from agent_forge.model import CognateForCausalLM, cognate_tiny_config

NUM_LAYERS = 4  # cognate_tiny_config's depth


def tiny_cognate(seed: int, **overrides) -> CognateForCausalLM:
    torch.manual_seed(seed)
    return CognateForCausalLM(cognate_tiny_config(vocab_size=300, act_max_steps=2, **overrides))


@pytest.fixture(scope="session")
def base_sd() -> dict[str, torch.Tensor]:
    return tiny_cognate(0).state_dict()


@pytest.fixture(scope="session")
def parent_sds() -> list[dict[str, torch.Tensor]]:
    return [tiny_cognate(seed).state_dict() for seed in (42, 1337, 2023)]
