"""Step markers: the one way a phase skips a step that a crashed attempt already finished.

`once(name, make)` runs `make()` the first time and writes its JSON result to
`<run_dir>/<name>.json` atomically; a later attempt of the session reads it back instead. Training
inside a step resumes from its own hash-checked Ray checkpoints (runtime/train.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from agent_forge.core.contracts import ModelHandle
from agent_forge.core.storage import atomic_write_json

T = TypeVar("T")


class StepMarkers:
    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)

    def path(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    def get(self, name: str) -> Any | None:
        """The stored result of step `name`, or None when it has not finished."""
        p = self.path(name)
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None

    def once(
        self,
        name: str,
        make: Callable[[], T],
        encode: Callable[[T], Any] = lambda x: x,
        decode: Callable[[Any], T] = lambda x: x,
    ) -> T:
        saved = self.get(name)
        if saved is not None:
            return decode(saved)
        value = make()
        self.put(name, encode(value))
        return value

    def put(self, name: str, value: Any) -> None:
        """Mark step `name` finished with the JSON `value` (atomically)."""
        atomic_write_json(self.path(name), value)

    def once_model(self, name: str, make: Callable[[], ModelHandle]) -> ModelHandle:
        """`once` for a step whose result is a saved model."""
        return self.once(name, make, ModelHandle.to_json, ModelHandle.from_json)
