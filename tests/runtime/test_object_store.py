"""Weights through the object store: exact round trips, zero-copy gets, verified disk fallback."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agent_forge.core import storage
from agent_forge.core.contracts import ModelHandle
from agent_forge.errors import IntegrityError
from agent_forge.runtime.object_store import (
    PackedStateDict,
    fetch_state_dict,
    get_state_dict,
    numpy_to_state_dict,
    put_state_dict,
    state_dict_to_numpy,
)

pytestmark = pytest.mark.ray


def _mixed_state_dict() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    base = torch.randn(64, 48, generator=g)
    return {
        "fp32": base,
        "fp16": base.half(),
        "bf16": base.bfloat16(),
        "f8": base.to(torch.float8_e4m3fn),
        "int64": torch.arange(10),
        "scalar_bf16": torch.tensor(1.5, dtype=torch.bfloat16),
        "transposed": base.t(),  # non-contiguous
    }


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        # float8 has no equality kernel on CPU: compare the bytes
        assert a[k].shape == b[k].shape, k
        as_bytes = [t.contiguous().reshape(-1).view(torch.uint8) for t in (a[k], b[k])]
        assert torch.equal(*as_bytes), k


def test_pack_records_only_dtypes_numpy_lacks() -> None:
    packed = state_dict_to_numpy(_mixed_state_dict())
    assert packed.dtypes == {"bf16": "bfloat16", "f8": "float8_e4m3fn", "scalar_bf16": "bfloat16"}
    assert packed.arrays["bf16"].dtype == np.uint16
    assert packed.arrays["transposed"].flags.c_contiguous
    assert packed.nbytes() == sum(a.nbytes for a in packed.arrays.values())


def test_in_process_round_trip_is_exact() -> None:
    sd = _mixed_state_dict()
    _assert_same(numpy_to_state_dict(state_dict_to_numpy(sd)), sd)


def test_object_store_round_trip_is_exact(ray_session) -> None:
    sd = _mixed_state_dict()
    ref = put_state_dict(sd)
    _assert_same(get_state_dict(ref), sd)
    _assert_same(get_state_dict(ref, copy=True), sd)


def test_real_model_round_trip(ray_session, tiny_model) -> None:
    sd = tiny_model.state_dict()
    back = get_state_dict(put_state_dict(sd))
    _assert_same(back, {k: v for k, v in sd.items()})


def test_get_is_zero_copy_and_read_only(ray_session) -> None:
    sd = {"big": torch.randn(1024, 1024), "big_bf16": torch.randn(1024, 1024).bfloat16()}
    ref = put_state_dict(sd)
    first, second = ray_session.get(ref), ray_session.get(ref)
    for name in sd:
        # two gets of one ref map the same shared-memory bytes: a copying get would not
        assert np.shares_memory(first.arrays[name], second.arrays[name]), name
        assert not first.arrays[name].flags.writeable
    tensors = numpy_to_state_dict(first)
    assert tensors["big"].data_ptr() == first.arrays["big"].ctypes.data  # torch did not copy


def test_copy_gives_writable_independent_tensors(ray_session) -> None:
    ref = put_state_dict({"w": torch.ones(512, 512)})
    t = get_state_dict(ref, copy=True)["w"]
    t.add_(1.0)
    assert torch.equal(get_state_dict(ref)["w"], torch.ones(512, 512))


def test_fetch_prefers_object_ref(ray_session, tmp_path) -> None:
    sd = {"w": torch.arange(6.0).reshape(2, 3)}
    handle = ModelHandle("m", tmp_path / "absent", {"sha256": {}}, object_ref=put_state_dict(sd))
    _assert_same(fetch_state_dict(handle), sd)


def test_fetch_from_disk_verifies_hashes(tiny_model, tmp_path) -> None:
    hashes = storage.save_pretrained(tiny_model, tmp_path / "m")
    handle = ModelHandle("m", tmp_path / "m", {"sha256": hashes})
    loaded = fetch_state_dict(handle)
    expected = tiny_model.state_dict()
    for name, tensor in loaded.items():
        assert torch.equal(tensor, expected[name]), name

    weights = tmp_path / "m" / next(iter(hashes))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        fetch_state_dict(handle)


def test_packed_is_a_plain_frozen_dataclass() -> None:
    packed = PackedStateDict(arrays={"a": np.zeros(2, np.float32)})
    with pytest.raises(AttributeError):
        packed.arrays = {}  # type: ignore[misc]
