"""The contracts between the driver and the phases: Phase, PhaseResult, ModelHandle, PhaseContext.

Spec §6.1/§6.2 and docs/design.md. A phase gets `ModelHandle`s, never another phase's files;
`success` is true only when the phase did its work and its own gate passed.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from agent_forge.config.schema import PipelineConfig
    from agent_forge.core.home import Home
    from agent_forge.core.metrics import MetricsLogger
    from agent_forge.core.registry import ModelRegistry
    from agent_forge.core.step_markers import StepMarkers


@dataclass
class ModelHandle:
    """A registered (or about-to-be-registered) model: its id, checkpoint folder, metadata,
    and optionally an object-store reference to its weights (numpy arrays, see runtime/)."""

    model_id: str
    path: Path
    metadata: dict[str, Any]
    object_ref: Any | None = None

    @property
    def parameters(self) -> int:
        return int(self.metadata["parameters"])

    def to_json(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "path": str(self.path), "metadata": self.metadata}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelHandle:
        return cls(d["model_id"], Path(d["path"]), d["metadata"])


@dataclass
class PhaseResult:
    """What a phase returns (spec fields, plus `fallback`). `success` is True when the phase did
    its work and its gate passed, or when the gate failed and the phase applied the fallback its
    config asks for (`fallback` then says so; the driver reports it, it is never silent)."""

    success: bool
    phase_name: str
    models: list[ModelHandle] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    # registered with the phase but not handed to the next one (e.g. Phase 1's shared init)
    side_models: list[ModelHandle] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    duration_seconds: float = 0.0
    error: str | None = None
    # The gate failed and the phase's configured fallback was applied instead (success stays
    # True, the run goes on): what failed and what was handed on. None: the gate passed.
    fallback: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "phase_name": self.phase_name,
            "models": [m.model_id for m in self.models],
            "side_models": [m.model_id for m in self.side_models],
            "metrics": self.metrics,
            "artifacts": self.artifacts,
            "duration_seconds": self.duration_seconds,
            "error": self.error,
            "fallback": self.fallback,
        }


@dataclass
class PhaseContext:
    """Everything a phase may use. Built by the driver for one phase of one session."""

    session_id: str
    phase_name: str
    config: PipelineConfig
    home: Home
    registry: ModelRegistry
    metrics: MetricsLogger
    markers: StepMarkers  # steps a crashed attempt finished (core/step_markers.py)
    run_dir: Path
    runtime: Any | None = None  # runtime.ray_runtime.RayHandle when Ray is up
    started_at: float = field(default_factory=time.time)

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        self.metrics.log(metrics, step=step, phase=self.phase_name)

    def save_model(
        self,
        model: Any,
        name: str,
        *,
        tokenizer: Any = None,
        specialization: str | None = None,
        tags: tuple[str, ...] | list[str] = (),
        metrics: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> ModelHandle:
        """Write an HF checkpoint + validated metadata under run_dir/<model_id>/ (atomically).

        The driver registers the returned handle when the phase succeeds.
        """
        from agent_forge.core import storage

        def taken(model_id: str) -> bool:
            return (self.run_dir / model_id).exists() or self.registry.has_model(model_id)

        model_id = storage.new_model_id(self.phase_name, name, exists=taken)
        path = self.run_dir / model_id
        hashes = storage.save_pretrained(model, path, tokenizer=tokenizer)
        metadata = storage.build_metadata(
            model_id=model_id,
            session_id=self.session_id,
            phase_name=self.phase_name,
            parameters=storage.count_parameters(model),
            size_mb=storage.dir_size_mb(path),
            sha256=hashes,
            specialization=specialization,
            model_name=name,
            tags=tags,
            metrics=metrics,
            extra=extra,
        )
        storage.write_metadata(path, metadata)
        return ModelHandle(model_id=model_id, path=path, metadata=metadata)


class Phase(ABC):
    """Base of every phase: a canonical `name`, a pydantic `Config`, and `run(ctx, inputs)`."""

    name: ClassVar[str]
    Config: ClassVar[type[BaseModel]]

    def __init__(self, config: BaseModel):
        if not isinstance(config, self.Config):
            raise TypeError(f"{type(self).__name__} expects {self.Config.__name__}")
        self.config = config

    @abstractmethod
    def run(self, ctx: PhaseContext, inputs: list[ModelHandle]) -> PhaseResult:
        """Do the phase's work on `inputs`; save outputs with `save_model`; return the result."""
