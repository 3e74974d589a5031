"""ModelHolder: a resident model that loads from the object store or disk and swaps weights."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from agent_forge.core import storage
from agent_forge.runtime.model_holder import LocalModelHolder, load_weights, make_holder
from agent_forge.runtime.object_store import put_state_dict
from tests.conftest import make_tiny_llama

pytestmark = pytest.mark.ray

INPUT_IDS = torch.arange(2 * 16).reshape(2, 16) % 8192


def _logits(model: nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    return model(input_ids=input_ids).logits


def _reference(model: nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return _logits(model.eval(), INPUT_IDS)


@pytest.fixture(scope="module")
def holder(ray_session):
    actor = make_holder(num_cpus=1)
    yield actor
    ray_session.kill(actor)


def test_load_from_ref_forward_matches_driver(ray_session, holder) -> None:
    first, second = make_tiny_llama(seed=0), make_tiny_llama(seed=1)
    ref = put_state_dict(first.state_dict())
    # the factory builds a differently seeded model: only the loaded weights can make it match
    n = ray_session.get(holder.load.remote(lambda: make_tiny_llama(seed=7), ref))
    assert n == sum(p.numel() for p in first.parameters())
    out = ray_session.get(holder.apply.remote(_logits, INPUT_IDS))
    assert torch.equal(out, _reference(first))

    # in place: same module, new weights; a ref inside a list is not resolved by Ray
    ray_session.get(holder.load_state.remote([put_state_dict(second.state_dict())]))
    swapped = ray_session.get(holder.apply.remote(_logits, INPUT_IDS))
    assert torch.equal(swapped, _reference(second))
    assert not torch.equal(swapped, out)


def test_info_and_state_ref(ray_session, holder) -> None:
    model = make_tiny_llama(seed=2)
    ray_session.get(holder.load.remote(lambda: make_tiny_llama(seed=3), model.state_dict()))
    info = ray_session.get(holder.info.remote())
    assert info["device"] == "cpu"
    assert info["parameters"] == sum(p.numel() for p in model.parameters())
    assert info["node_id"] == ray_session.get_runtime_context().get_node_id()
    assert info["pid"] != os.getpid()

    ref = ray_session.get(holder.state_ref.remote())
    back = ray_session.get(ref)
    assert set(back.arrays) == set(model.state_dict())
    for name, tensor in model.state_dict().items():
        assert torch.equal(torch.from_numpy(back.arrays[name].copy()), tensor), name


def test_load_from_checkpoint_dir(ray_session, holder, tmp_path) -> None:
    model = make_tiny_llama(seed=4)
    storage.save_pretrained(model, tmp_path / "ckpt")
    ray_session.get(holder.load.remote(None, str(tmp_path / "ckpt")))
    out = ray_session.get(holder.apply.remote(_logits, INPUT_IDS))
    torch.testing.assert_close(out, _reference(model), rtol=0, atol=0)


def test_apply_runs_without_grad() -> None:
    local = LocalModelHolder()
    local.load(lambda: make_tiny_llama(seed=5), make_tiny_llama(seed=5).state_dict())
    assert local.apply(lambda m: torch.is_grad_enabled()) is False
    assert local.apply(lambda m, x: m.training or x, x=0) == 0


def test_load_weights_accepts_tied_but_rejects_unknown_keys() -> None:
    model = make_tiny_llama(seed=6)
    sd = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
    load_weights(model, sd)  # lm_head is tied to embed_tokens, which is present
    with pytest.raises(ValueError, match="unexpected"):
        load_weights(model, {**sd, "bogus.weight": torch.zeros(1)})
    sd.pop("model.norm.weight")
    with pytest.raises(ValueError, match="model.norm.weight"):
        load_weights(model, sd)


def test_holder_without_model_says_so() -> None:
    with pytest.raises(RuntimeError, match="load"):
        LocalModelHolder().apply(_logits, INPUT_IDS)
