"""Training checkpoints of one phase: `step_00000042/` folders of safetensors + JSON, newest N kept.

Each folder is written whole (temp folder, fsync, rename, via `storage.save_model_dir`) and carries
a manifest with the SHA-256 of its weights; loading verifies it, so a corrupt checkpoint is an
`IntegrityError`, never a silent restart. One writer per directory.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_forge.core.storage import load_state_dict, save_model_dir, sha256_file
from agent_forge.errors import IntegrityError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

WEIGHTS_FILE = "state.safetensors"
EXTRA_FILE = "extra.json"
MANIFEST_FILE = "manifest.json"
_STEP_RE = re.compile(r"^step_(\d{8,})$")


def detached_tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous tensors; one sharing storage with an earlier one (tied weights, views) is
    cloned, since safetensors refuses shared storage."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, t in state.items():
        t = t.detach().cpu().contiguous()
        ptr = t.untyped_storage().data_ptr()
        out[name] = t.clone() if ptr in seen else t
        seen.add(ptr)
    return out


class CheckpointManager:
    """Save, list, prune and restore the checkpoints under `directory`."""

    def __init__(self, directory: str | os.PathLike[str], keep: int = 5):
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.directory = Path(directory)
        self.keep = keep

    def path(self, step: int) -> Path:
        return self.directory / f"step_{step:08d}"

    def steps(self) -> list[int]:
        """Steps of the complete checkpoints on disk, oldest first (temp folders are not listed)."""
        if not self.directory.is_dir():
            return []
        found = (_STEP_RE.match(p.name) for p in self.directory.iterdir() if p.is_dir())
        return sorted(int(m.group(1)) for m in found if m)

    def save(
        self, step: int, state: dict[str, torch.Tensor], extra: dict[str, Any] | None = None
    ) -> Path:
        """Write checkpoint `step` atomically, then keep only the newest `keep` checkpoints."""
        from safetensors.torch import save_file

        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        self._remove_leftovers()
        tensors = detached_tensors(state)
        extra_json = json.dumps(extra or {}, indent=2)  # fails before anything is written

        def writer(d: Path) -> None:
            save_file(tensors, str(d / WEIGHTS_FILE))
            (d / EXTRA_FILE).write_text(extra_json, encoding="utf-8")
            manifest = {"step": step, "sha256": {WEIGHTS_FILE: sha256_file(d / WEIGHTS_FILE)}}
            (d / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")

        out = self.path(step)
        if out.exists():  # re-saving a step (a resumed run): move the old one aside first
            self._discard(out)
        save_model_dir(out, writer)
        self._prune()
        log.debug("checkpoint %s saved", out)
        return out

    def load(self, step: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """(state, extra) of checkpoint `step`, its weights verified against the manifest."""
        d = self.path(step)
        manifest_path = d / MANIFEST_FILE
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            hashes = dict(manifest["sha256"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise IntegrityError(str(manifest_path), f"unreadable checkpoint manifest: {e}") from e
        state = load_state_dict(d, hashes)
        extra_path = d / EXTRA_FILE
        try:
            extra = json.loads(extra_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise IntegrityError(str(extra_path), f"unreadable checkpoint extra: {e}") from e
        return state, extra

    def latest(self) -> tuple[int, dict[str, torch.Tensor], dict[str, Any]] | None:
        """(step, state, extra) of the newest checkpoint, or None if there is none."""
        steps = self.steps()
        if not steps:
            return None
        state, extra = self.load(steps[-1])
        return steps[-1], state, extra

    def _discard(self, d: Path) -> None:
        """Rename out of the step namespace first, so a half-deleted folder is never listed."""
        trash = d.with_name(f".{d.name}.del-{os.getpid()}")
        os.rename(d, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def _prune(self) -> None:
        for step in self.steps()[: -self.keep]:
            self._discard(self.path(step))

    def _remove_leftovers(self) -> None:
        """Temp and half-deleted folders of a crashed save or prune (names start with '.step_')."""
        if not self.directory.is_dir():
            return
        for p in self.directory.iterdir():
            if p.name.startswith(".step_") and p.is_dir():
                log.info("removing leftover checkpoint folder %s", p)
                shutil.rmtree(p, ignore_errors=True)
