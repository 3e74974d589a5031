"""storage: atomic writes, hashed safetensors round trips, the metadata schema, model ids."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import torch

from agent_forge.core import storage
from agent_forge.errors import IntegrityError, MetadataError

SID = "1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b"


def _metadata(**over: Any) -> dict[str, Any]:
    md = storage.build_metadata(
        model_id="cognate_reasoning_20250101_120000",
        session_id=SID,
        phase_name="cognate",
        parameters=1_376_896,
        size_mb=5.25,
        sha256={"model.safetensors": "a" * 64},
        specialization="reasoning",
        extra={"final_loss": 2.5, "seed": 1},
        created_at=datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC),
    )
    md.update(over)
    return md


def _no_temp_files(d: Path) -> bool:
    return not [p for p in d.iterdir() if p.name.startswith(".")]


def test_atomic_write_keeps_old_content_when_writer_raises(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    storage.atomic_write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        # `object()` is not JSON: the dump fails after the first keys were already streamed
        storage.atomic_write_json(target, {"a": 2, "b": list(range(100)), "z": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert _no_temp_files(tmp_path)
    storage.atomic_write_text(tmp_path / "t.txt", "hello")
    storage.atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "t.txt").read_text() == "hello"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert _no_temp_files(tmp_path)


def test_save_model_dir_leaves_nothing_when_writer_raises(tmp_path: Path) -> None:
    def writer(d: Path) -> None:
        (d / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed mid-save")

    with pytest.raises(RuntimeError):
        storage.save_model_dir(tmp_path / "m", writer)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError):
        storage.save_model_dir(tmp_path / "taken", lambda d: None)


def test_save_pretrained_round_trip_is_bit_exact(tiny_model: Any, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    out = tmp_path / "cognate_x_20250101_120000"
    hashes = storage.save_pretrained(tiny_model, out)
    assert set(hashes) == {"model.safetensors"}
    assert hashes["model.safetensors"] == storage.sha256_file(out / "model.safetensors")
    assert (out / "config.json").is_file() and _no_temp_files(tmp_path)

    loaded = storage.load_state_dict(out, hashes)
    ref = tiny_model.state_dict()
    # The tied lm_head is stored once, as the embedding: the only key not in the file.
    assert set(ref) - set(loaded) == {"lm_head.weight"}
    for name, tensor in loaded.items():
        assert torch.equal(tensor, ref[name]), name

    reloaded = AutoModelForCausalLM.from_pretrained(out)
    for name, tensor in reloaded.state_dict().items():
        assert torch.equal(tensor, ref[name]), name

    assert storage.count_parameters(tiny_model) == 1_376_896
    size = sum(p.stat().st_size for p in out.iterdir())
    assert storage.dir_size_mb(out) == pytest.approx(size / (1024 * 1024))
    assert storage.dir_size_mb(out / "model.safetensors") > 5.0


def test_flipped_byte_raises_integrity_error(tiny_model: Any, tmp_path: Path) -> None:
    out = tmp_path / "m"
    hashes = storage.save_pretrained(tiny_model, out)
    weights = out / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="model.safetensors") as err:
        storage.load_state_dict(out, hashes)
    assert "sha256 mismatch" in str(err.value)
    weights.unlink()
    with pytest.raises(IntegrityError, match="model.safetensors.*missing"):
        storage.verify_weights(out, hashes)


def test_unrecorded_weight_file_and_empty_hashes_are_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    def writer(d: Path) -> None:
        save_file({"w": torch.ones(2)}, str(d / "a.safetensors"))
        save_file({"v": torch.zeros(2)}, str(d / "b.safetensors"))

    hashes = storage.save_model_dir(tmp_path / "m", writer)
    assert set(hashes) == {"a.safetensors", "b.safetensors"}
    assert set(storage.load_state_dict(tmp_path / "m", hashes)) == {"w", "v"}
    with pytest.raises(IntegrityError, match="b.safetensors.*no recorded hash"):
        storage.verify_weights(tmp_path / "m", {"a.safetensors": hashes["a.safetensors"]})
    with pytest.raises(IntegrityError, match="no weight hashes"):
        storage.verify_weights(tmp_path / "m", {})


def test_valid_metadata_passes_and_round_trips(tmp_path: Path) -> None:
    md = _metadata()
    storage.validate_metadata(md)
    storage.write_metadata(tmp_path, md)
    assert storage.read_metadata(tmp_path) == md
    assert md["created_at"] == "2025-01-01T12:00:00+00:00"
    storage.validate_metadata(_metadata(specialization=None, created_at="2025-01-01T12:00:00Z"))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model_id": None}, "model_id"),  # None = remove the key
        ({"sha256": None}, "sha256"),
        ({"session_id": "not-a-uuid"}, "$.session_id"),
        ({"session_id": uuid.UUID(SID).hex}, "$.session_id"),  # no hyphens: not canonical
        ({"created_at": "yesterday"}, "$.created_at"),
        ({"created_at": "2025-01-01"}, "$.created_at"),  # a date is not a date-time
        ({"created_at": "2025-13-01T12:00:00Z"}, "$.created_at"),
        ({"created_at": "2025-01-01T12:00:00"}, "$.created_at"),  # no timezone
        ({"parameters": 0}, "$.parameters"),
        ({"parameters": 1_500_000.5}, "$.parameters"),
        ({"size_mb": 0.05}, "$.size_mb"),
        ({"phase_name": "forge"}, "$.phase_name"),
        ({"specialization": "poetry"}, "$.specialization"),
        ({"model_id": "Cognate_X_2025"}, "$.model_id"),
        ({"sha256": {"model.safetensors": "xyz"}}, "$.sha256['model.safetensors']"),
    ],
)
def test_schema_rejects_and_names_the_field(change: dict[str, Any], field: str) -> None:
    md = _metadata()
    for key, value in change.items():
        if value is None:
            del md[key]
        else:
            md[key] = value
    with pytest.raises(MetadataError) as err:
        storage.validate_metadata(md)
    assert field in str(err.value)


def test_read_metadata_validates_and_names_the_file(tmp_path: Path) -> None:
    md = _metadata()
    storage.write_metadata(tmp_path, md)
    with pytest.raises(MetadataError):
        storage.write_metadata(tmp_path, {**md, "parameters": -10})
    assert storage.read_metadata(tmp_path) == md  # the failed write changed nothing
    (tmp_path / "metadata.json").write_text(json.dumps({**md, "phase_name": "edge"}))
    with pytest.raises(MetadataError, match=r"metadata\.json.*phase_name"):
        storage.read_metadata(tmp_path)
    (tmp_path / "metadata.json").write_text("{not json")
    with pytest.raises(MetadataError, match=r"metadata\.json"):
        storage.read_metadata(tmp_path)


def test_new_model_id_format_and_collision_suffix() -> None:
    now = datetime(2025, 10, 15, 20, 30, 15, tzinfo=UTC)
    mid = storage.new_model_id("cognate", "Reasoning Model-1", now=now)
    assert mid == "cognate_reasoning_model_1_20251015_203015"
    taken = {mid, mid + "_01"}
    second = storage.new_model_id(
        "cognate", "Reasoning Model-1", now=now, exists=taken.__contains__
    )
    assert second == mid + "_02"
    for candidate in (mid, second):
        storage.validate_metadata(_metadata(model_id=candidate))


def test_build_metadata_refuses_to_override_core_keys() -> None:
    with pytest.raises(ValueError, match="parameters"):
        _metadata_with_extra({"parameters": 5})


def _metadata_with_extra(extra: dict[str, Any]) -> dict[str, Any]:
    return storage.build_metadata(
        model_id="cognate_a_20250101_120000",
        session_id=SID,
        phase_name="cognate",
        parameters=1_000_000,
        size_mb=1.0,
        sha256={"model.safetensors": "0" * 64},
        extra=extra,
    )
