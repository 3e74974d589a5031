"""Pydantic models of every pipeline setting. Unknown keys are errors (extra="forbid").

One `<Section>Config` per concern, composed into `PipelineConfig`. Phase sections live in
`phase_configs.py`; a phase that is not built yet has an empty section.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agent_forge.config.eval_config import EvalConfig
from agent_forge.config.phase_configs import PhasesConfig


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RunConfig(StrictModel):
    seed: int = Field(42, ge=0, description="Global seed; phases derive their own seeds from it.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = CUDA if usable.")
    min_cuda_capability: int = Field(
        6, ge=0, le=20, description="Older GPUs (major capability below this) fall back to CPU."
    )


class RayTrainScalingConfig(StrictModel):
    """Ray Train `ScalingConfig` for one training job."""

    num_workers: int = Field(1, ge=1, le=1024)
    use_gpu: bool = False
    cpus_per_worker: float = Field(1.0, gt=0, le=256)
    gpus_per_worker: float = Field(0.0, ge=0, le=16)


class RayTuneResourcesConfig(StrictModel):
    """Ray Tune resources for population searches (EvoMerge, NSGA-II)."""

    cpus_per_trial: float = Field(1.0, gt=0, le=256)
    gpus_per_trial: float = Field(0.0, ge=0, le=16)
    max_concurrent_trials: int = Field(2, ge=1, le=4096)
    reuse_actors: bool = True


class RayConfig(StrictModel):
    address: str | None = Field(
        None, description="Join this cluster (ray start --head). None = start a local Ray."
    )
    num_cpus: int | None = Field(None, ge=1, le=4096, description="Local Ray only; None = all.")
    num_gpus: int | None = Field(None, ge=0, le=64, description="Local Ray only; None = detect.")
    include_dashboard: bool = Field(True, description="Ray dashboard on 127.0.0.1 for `run`.")
    dashboard_port: int = Field(8265, ge=1024, le=65535)
    object_store_memory_mb: int | None = Field(None, ge=75, description="None = Ray's default.")
    storage_path: str | None = Field(
        None,
        description="Ray Train/Tune results (path or pyarrow.fs URI); None = <home>/ray_results.",
    )
    train: RayTrainScalingConfig = Field(default_factory=RayTrainScalingConfig)
    tune: RayTuneResourcesConfig = Field(default_factory=RayTuneResourcesConfig)


class RegistryConfig(StrictModel):
    keep_completed_days: int = Field(30, ge=1, le=36500)
    keep_failed_days: int = Field(7, ge=1, le=36500)
    max_sessions: int = Field(100, ge=1, le=100000)
    keep_checkpoints: int = Field(5, ge=1, le=1000, description="Phase checkpoints kept per phase.")


class WandbConfig(StrictModel):
    mode: Literal["offline", "online", "disabled"] = Field(
        "offline", description="offline writes under <home>/wandb; online needs a login."
    )
    project: str = Field("agent-forge", min_length=1)
    entity: str | None = None


class MetricsConfig(StrictModel):
    wandb: WandbConfig = Field(default_factory=WandbConfig)


class MonitorConfig(StrictModel):
    enabled: bool = Field(True, description="Sample system/* metrics during runs.")
    interval_seconds: float = Field(5.0, gt=0, le=3600)


class HandoffRuleConfig(StrictModel):
    """Spec §6.2 validation rules for the models one phase hands to the next."""

    source: str
    target: str
    num_models: int | None = Field(None, ge=1)
    param_range: tuple[int, int] | None = None
    required_metadata: list[str] = Field(default_factory=list)
    min_fitness: float | None = None
    min_accuracy: float | None = Field(None, ge=0, le=1)
    max_size_mb: float | None = Field(None, gt=0)

    @field_validator("source", "target")
    @classmethod
    def _known_phase(cls, name: str) -> str:
        order = list(PhasesConfig.model_fields)  # the pipeline's phase order
        if name not in order:
            raise ValueError(f"unknown phase {name!r}; phases are {', '.join(order)}")
        return name

    @model_validator(mode="after")
    def _consecutive(self) -> HandoffRuleConfig:
        order = list(PhasesConfig.model_fields)
        if order.index(self.target) != order.index(self.source) + 1:
            raise ValueError(f"{self.source} -> {self.target} are not consecutive phases")
        return self

    @model_validator(mode="after")
    def _range_ordered(self) -> HandoffRuleConfig:
        if self.param_range is not None and self.param_range[0] > self.param_range[1]:
            raise ValueError(f"param_range {list(self.param_range)} has min > max")
        return self


class PipelineConfig(StrictModel):
    profile: str = Field("tiny", description="Profile this config was built from.")
    run: RunConfig = Field(default_factory=RunConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    handoffs: list[HandoffRuleConfig] = Field(default_factory=list)
    phases: PhasesConfig = Field(default_factory=PhasesConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @field_validator("handoffs")
    @classmethod
    def _one_rule_per_pair(cls, rules: list[HandoffRuleConfig]) -> list[HandoffRuleConfig]:
        pairs = [(r.source, r.target) for r in rules]
        for i, pair in enumerate(pairs):
            if pair in pairs[:i]:
                raise ValueError(f"rule {i} is a second rule for {pair[0]} -> {pair[1]}")
        return rules

    def handoff_rule(self, source: str, target: str) -> HandoffRuleConfig | None:
        for rule in self.handoffs:
            if rule.source == source and rule.target == target:
                return rule
        return None
