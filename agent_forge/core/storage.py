"""Atomic, hashed storage of model weights (safetensors) and their metadata (spec §6.1).

Every write goes to a temp file or folder beside its target, is fsynced, then renamed into place,
so a crash leaves the old content or the new, never half of one. Weights are verified against
their recorded SHA-256 before they are loaded; a mismatch is an `IntegrityError`, never a reload.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from jsonschema import Draft7Validator, FormatChecker

from agent_forge.errors import IntegrityError, MetadataError

if TYPE_CHECKING:  # torch is imported lazily: the registry uses this module without it
    import torch

log = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).parent / "schemas" / "model_metadata.schema.json"
METADATA_FILE = "metadata.json"
WEIGHT_SUFFIX = ".safetensors"
_CHUNK = 1 << 20
_MIB = 1024 * 1024
_SUFFIX_RE = re.compile(r"[^a-z0-9_]")
# RFC 3339 date-time: `fromisoformat` alone would also accept a bare date or a naive time.
_DATE_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)

# ---------------------------------------------------------------------------------------------
# atomic writes


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in `path` durable (a no-op where directories can't be
    opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temp file beside `path`; on clean exit fsync it and rename it over `path`.

    If the body raises, the temp file is removed and `path` keeps its old content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    # os.open honours the umask (mkstemp would leave the file readable by its owner only)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        kwargs = {} if "b" in mode else {"encoding": "utf-8"}
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Stream `obj` as indented JSON; a value that can't be encoded leaves `path` untouched."""
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


# ---------------------------------------------------------------------------------------------
# model folders and weights


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def _fsync_tree(root: Path) -> None:
    files = _files(root)
    for p in files:
        with open(p, "rb") as f:
            os.fsync(f.fileno())
    for d in sorted({p.parent for p in files} | {root}):
        _fsync_dir(d)


def _weight_files(root: Path) -> dict[str, Path]:
    """{relative posix path: path} of every *.safetensors file under `root`."""
    return {
        p.relative_to(root).as_posix(): p for p in _files(root) if p.name.endswith(WEIGHT_SUFFIX)
    }


def weight_hashes(model_dir: str | os.PathLike[str]) -> dict[str, str]:
    """{relative posix path: sha256} of every *.safetensors file under `model_dir`."""
    return {name: sha256_file(p) for name, p in _weight_files(Path(model_dir)).items()}


def save_model_dir(
    out_dir: str | os.PathLike[str], writer: Callable[[Path], None]
) -> dict[str, str]:
    """Let `writer` fill a temp folder beside `out_dir`, fsync it, rename it to `out_dir`.

    Raises FileExistsError if `out_dir` exists. If `writer` raises, the temp folder is removed
    and nothing appears at `out_dir`. Returns {filename: sha256} of every weight file.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir}: already exists; model folders are written once")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{uuid.uuid4().hex[:12]}")
    tmp.mkdir()  # honours the umask, unlike mkdtemp's 0o700
    try:
        writer(tmp)
        _fsync_tree(tmp)
        hashes = weight_hashes(tmp)
        os.rename(tmp, out_dir)  # fails if out_dir appeared meanwhile and is not empty
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(out_dir.parent)
    log.debug("wrote %s (%d weight files)", out_dir, len(hashes))
    return hashes


def save_pretrained(
    model: Any, out_dir: str | os.PathLike[str], tokenizer: Any = None
) -> dict[str, str]:
    """HF `save_pretrained` (safetensors, HF layout) of `model` (and `tokenizer`), atomically."""

    def writer(d: Path) -> None:
        model.save_pretrained(d)
        if tokenizer is not None:
            tokenizer.save_pretrained(d)

    return save_model_dir(out_dir, writer)


def verify_weights(model_dir: str | os.PathLike[str], hashes: dict[str, str]) -> None:
    """Check every recorded weight file against its hash; an unrecorded weight file also fails."""
    root = Path(model_dir)
    if not hashes:
        raise IntegrityError(str(root), "no weight hashes recorded; refusing unverified weights")
    for name, expected in sorted(hashes.items()):
        path = root / name
        if not path.is_file():
            raise IntegrityError(str(path), "weight file is missing")
        found = sha256_file(path)
        if found != expected:
            raise IntegrityError(
                str(path), f"sha256 mismatch: recorded {expected[:16]}…, found {found[:16]}…"
            )
    extra = sorted(set(_weight_files(root)) - set(hashes))
    if extra:
        raise IntegrityError(str(root / extra[0]), "weight file has no recorded hash")


def load_state_dict(
    model_dir: str | os.PathLike[str], hashes: dict[str, str]
) -> dict[str, torch.Tensor]:
    """Verify, then load and merge every recorded safetensors file of `model_dir`."""
    from safetensors.torch import load_file

    verify_weights(model_dir, hashes)
    state: dict[str, torch.Tensor] = {}
    for name in sorted(hashes):
        part = load_file(Path(model_dir) / name)
        dup = set(part) & set(state)
        if dup:
            raise IntegrityError(str(Path(model_dir) / name), f"tensor {min(dup)!r} in two files")
        state.update(part)
    return state


def dir_size_mb(path: str | os.PathLike[str]) -> float:
    """Size in MiB (1024 * 1024 bytes) of a file, or of every regular file under a folder."""
    p = Path(path)
    if p.is_file():
        return p.stat().st_size / _MIB
    return sum(f.stat().st_size for f in _files(p)) / _MIB


def count_parameters(model: Any) -> int:
    """Unique parameters (tied weights count once, as `model.parameters()` yields them once)."""
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------
# metadata


_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    # Canonical 8-4-4-4-12 only: uuid.UUID alone also accepts braces, urn: and no hyphens.
    return not isinstance(value, str) or str(uuid.UUID(value)) == value.lower()


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_TIME_RE.match(value):
        return False
    datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))  # range checks
    return True


@lru_cache(maxsize=1)
def _validator() -> Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, format_checker=_FORMATS)


def validate_metadata(md: dict[str, Any]) -> None:
    """Raise MetadataError listing each failing field as a JSON path with the schema's message."""
    errors = sorted(_validator().iter_errors(md), key=lambda e: (list(map(str, e.path)), e.message))
    if errors:
        parts = [f"{e.json_path}: {e.message}" for e in errors]
        raise MetadataError("model metadata invalid: " + "; ".join(parts))


def write_metadata(model_dir: str | os.PathLike[str], md: dict[str, Any]) -> Path:
    validate_metadata(md)
    path = Path(model_dir) / METADATA_FILE
    atomic_write_json(path, md)
    return path


def read_metadata(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(model_dir) / METADATA_FILE
    try:
        md = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise MetadataError(f"{path}: no metadata file") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MetadataError(f"{path}: not valid JSON: {e}") from e
    try:
        validate_metadata(md)
    except MetadataError as e:
        raise MetadataError(f"{path}: {e}") from e
    return md


def _slug(text: str) -> str:
    return _SUFFIX_RE.sub("_", text.lower())


def new_model_id(
    phase: str,
    name: str,
    now: datetime | None = None,
    exists: Callable[[str], bool] = lambda _: False,
) -> str:
    """`{phase}_{name}_{YYYYMMDD}_{HHMMSS}` (UTC), plus `_01`, `_02`, … if `exists(id)` is true."""
    now = now or datetime.now(UTC)
    base = f"{_slug(phase)}_{_slug(name)}_{now:%Y%m%d_%H%M%S}"
    if not exists(base):
        return base
    for i in range(1, 100_000):
        candidate = f"{base}_{i:02d}"
        if not exists(candidate):
            return candidate
    raise RuntimeError(f"no free model id for {base!r}")


_CORE_KEYS = frozenset(
    {"model_id", "session_id", "phase_name", "created_at", "parameters", "size_mb", "sha256"}
)


def build_metadata(
    *,
    model_id: str,
    session_id: str,
    phase_name: str,
    parameters: int,
    size_mb: float,
    sha256: dict[str, str],
    specialization: str | None = None,
    model_name: str | None = None,
    tags: Iterable[str] = (),
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """Metadata dict in the §6.1 shape; `created_at` is ISO-8601 UTC (naive times are UTC)."""
    when = created_at or datetime.now(UTC)
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    md: dict[str, Any] = {
        "model_id": model_id,
        "session_id": str(session_id),
        "phase_name": phase_name,
        "created_at": when.isoformat(timespec="seconds"),
        "parameters": int(parameters),
        "size_mb": float(size_mb),
        "sha256": dict(sha256),
        "specialization": specialization,
        "tags": list(tags),
        "metrics": dict(metrics or {}),
    }
    if model_name is not None:
        md["model_name"] = model_name
    clash = sorted(_CORE_KEYS & set(extra or {}))
    if clash:
        raise ValueError(f"extra metadata may not override {clash}")
    md.update(extra or {})
    return md
