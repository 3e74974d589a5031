"""checkpoints: pruning to the newest N, bit-exact restore, corruption detected, crash leftovers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from agent_forge.core.checkpoints import CheckpointManager
from agent_forge.errors import IntegrityError


def _state(step: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(step)
    return {"w": torch.randn(16, 8, generator=g), "b": torch.arange(step, step + 4)}


def test_keeps_newest_five_and_restores_bit_exactly(tmp_path: Path) -> None:
    mgr = CheckpointManager(tmp_path / "ckpt", keep=5)
    assert mgr.latest() is None and mgr.steps() == []
    for step in range(0, 70, 10):
        mgr.save(step, _state(step), extra={"step": step, "lr": 1e-3})
    assert mgr.steps() == [20, 30, 40, 50, 60]
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        f"step_{s:08d}" for s in (20, 30, 40, 50, 60)
    ]
    step, state, extra = mgr.latest()
    assert step == 60 and extra == {"step": 60, "lr": 1e-3}
    ref = _state(60)
    assert set(state) == set(ref)
    for k in ref:
        assert torch.equal(state[k], ref[k]) and state[k].dtype == ref[k].dtype


def test_tied_weights_of_a_real_model_are_saved(tiny_model: Any, tmp_path: Path) -> None:
    mgr = CheckpointManager(tmp_path, keep=2)
    sd = tiny_model.state_dict()  # lm_head.weight shares storage with the embedding
    mgr.save(1, sd)
    _, state, extra = mgr.latest()
    assert extra == {} and set(state) == set(sd)
    assert all(torch.equal(state[k], sd[k]) for k in sd)


def test_corrupted_checkpoint_raises_integrity_error(tmp_path: Path) -> None:
    mgr = CheckpointManager(tmp_path, keep=3)
    mgr.save(1, _state(1))
    path = mgr.save(2, _state(2))
    weights = path / "state.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="state.safetensors"):
        mgr.latest()  # never a silent fall-back to step 1
    (path / "manifest.json").write_text("{")
    with pytest.raises(IntegrityError, match="manifest.json"):
        mgr.latest()


def test_leftover_temp_folder_is_ignored_then_removed(tmp_path: Path) -> None:
    mgr = CheckpointManager(tmp_path, keep=5)
    mgr.save(1, _state(1))
    crashed = tmp_path / ".step_00000002.tmp-abc123"  # what a save killed mid-write leaves
    crashed.mkdir()
    (crashed / "state.safetensors").write_bytes(b"half")
    assert mgr.steps() == [1]
    step, _, _ = mgr.latest()
    assert step == 1
    mgr.save(2, _state(2))
    assert not crashed.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000001", "step_00000002"]


def test_resaving_a_step_replaces_it(tmp_path: Path) -> None:
    mgr = CheckpointManager(tmp_path)
    mgr.save(5, _state(1))
    mgr.save(5, _state(2), extra={"again": True})
    step, state, extra = mgr.latest()
    assert step == 5 and extra == {"again": True} and torch.equal(state["w"], _state(2)["w"])
    assert [p.name for p in tmp_path.iterdir()] == ["step_00000005"]
