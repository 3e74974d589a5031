"""The driver: runs the built phases in PHASE_SEQUENCE order, checks each handoff, registers
outputs, logs metrics, keeps the session record, and resumes at the first unfinished phase.

Models flow between phases as object-store references (when Ray is up) *and* as checkpoints in
the registry, so any phase can be resumed from disk. A phase that is not built stops the run
honestly: the session ends `incomplete`, never `completed`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_forge.config.schema import PipelineConfig
from agent_forge.core.contracts import ModelHandle, Phase, PhaseContext, PhaseResult
from agent_forge.core.handoff import check_handoff
from agent_forge.core.home import Home
from agent_forge.core.metrics import MetricsLogger
from agent_forge.core.named_registry import Registry
from agent_forge.core.phase_names import PHASE_SEQUENCE, previous_phase
from agent_forge.core.registry import ModelRegistry
from agent_forge.core.run_log import phase_log_context, session_log_handler
from agent_forge.core.session_file import read_session_file, write_session_file
from agent_forge.core.step_markers import StepMarkers
from agent_forge.core.storage import atomic_write_json
from agent_forge.errors import (
    HandoffError,
    NotFoundError,
    PhaseFailedError,
    PhaseNotBuiltError,
    UserInputError,
)

log = logging.getLogger(__name__)

__all__ = ["PHASE_SEQUENCE", "Pipeline", "RunReport"]

Event = Callable[[str, dict[str, Any]], None]  # (event name, details) for the CLI's progress


@dataclass
class RunReport:
    session_id: str
    status: str  # completed | incomplete | failed
    ran: list[str] = field(default_factory=list)
    not_built: list[str] = field(default_factory=list)
    failed_phase: str | None = None
    error: str | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    # phase -> why its gate failed and what it handed on instead (PhaseResult.fallback)
    fallbacks: dict[str, str] = field(default_factory=dict)
    # the failure was bad input (e.g. a job asking for a GPU the cluster lacks): exit code 2
    bad_input: bool = False

    @property
    def exit_code(self) -> int:
        if self.status != "failed":
            return 0
        return 2 if self.bad_input else 1

    def to_json(self) -> dict[str, Any]:
        return self.__dict__ | {"exit_code": self.exit_code}


class Pipeline:
    """One driver per CLI call. `runtime_factory` starts Ray lazily, only if a phase will run."""

    def __init__(
        self,
        config: PipelineConfig,
        home: Home,
        phases: Registry[type[Phase]],
        runtime_factory: Callable[[], Any] | None = None,
        on_event: Event | None = None,
    ):
        self.config, self.home, self.phases = config, home.ensure(), phases
        self.registry = ModelRegistry(home.registry_db)
        self._runtime_factory, self._runtime = runtime_factory, None
        self._emit = on_event or (lambda _e, _d: None)

    # ---- public entry points -------------------------------------------------------------
    def run(self, only_phase: str | None = None, input_ids: list[str] | None = None) -> RunReport:
        """A new session: the whole sequence, or one phase with explicit or latest inputs."""
        if only_phase and only_phase not in self.phases:
            raise PhaseNotBuiltError(
                f"phase {only_phase} is not built yet; built phases: "
                f"{', '.join(self.phases.names()) or 'none'}"
            )
        plan = [only_phase] if only_phase else list(PHASE_SEQUENCE)
        inputs = self._resolve_inputs(only_phase, input_ids) if only_phase else []
        sid = str(uuid.uuid4())
        self.registry.create_session(sid, self.config.profile, self.config.model_dump(mode="json"))
        write_session_file(
            self.home,
            sid,
            {
                "plan": plan,
                "input_ids": [m.model_id for m in inputs],
                "config": self.config.model_dump(mode="json"),
            },
        )
        return self._execute(sid, plan, inputs)

    def resume(self, session_id: str) -> RunReport:
        """Restart `session_id` at its first unfinished phase, with that phase's checkpoints."""
        sid = self.registry.get_session(session_id)["session_id"]
        record = read_session_file(self.home, sid)
        done = {
            p["phase_name"] for p in self.registry.get_phases(sid) if p["status"] == "completed"
        }
        plan = [p for p in record["plan"] if p not in done]
        if not plan:
            raise UserInputError(f"session {sid} has no unfinished phase to resume")
        first = plan[0]
        if first == record["plan"][0]:
            inputs = [self._handle(mid) for mid in record.get("input_ids", [])]
        else:
            inputs = self._outputs_of(sid, previous_phase(first))
        return self._execute(sid, plan, inputs)

    # ---- the loop ------------------------------------------------------------------------
    def _execute(self, sid: str, plan: list[str], inputs: list[ModelHandle]) -> RunReport:
        report = RunReport(session_id=sid, status="running")
        self.registry.set_session_status(sid, "running")
        self._mark_process(sid)
        metrics = MetricsLogger(
            self.home,
            sid,
            registry=self.registry,
            wandb_cfg=self.config.metrics.wandb,
            run_config=self.config.model_dump(mode="json"),
        )
        with session_log_handler(self.home.log_file(sid)), metrics:
            self._emit("session", {"session_id": sid, "plan": plan})
            log.info("session %s: plan %s", sid, ", ".join(plan))
            for name in plan:
                if name not in self.phases:
                    report.not_built = [p for p in plan[plan.index(name) :] if p not in self.phases]
                    with phase_log_context(name):
                        log.warning("phase %s is not built; the run stops here", name)
                    self._emit("not_built", {"phase": name, "not_built": report.not_built})
                    break
                outputs = self._run_phase(sid, name, inputs, metrics, report)
                if outputs is None:
                    break
                inputs = outputs
        report.status = (
            "failed" if report.failed_phase else ("incomplete" if report.not_built else "completed")
        )
        self.registry.set_session_status(sid, report.status, report.error)
        self._unmark_process(sid)
        self._emit("done", report.to_json())
        if self._runtime is not None:
            self._runtime.shutdown()
            self._runtime = None
        return report

    def _run_phase(
        self,
        sid: str,
        name: str,
        inputs: list[ModelHandle],
        metrics: MetricsLogger,
        report: RunReport,
    ) -> list[ModelHandle] | None:
        """Run one phase; its outputs, or None when it failed (report updated)."""
        self.registry.start_phase(sid, name)
        self._emit("phase_start", {"phase": name})
        start = time.time()
        with phase_log_context(name):
            try:
                self._check_handoff(sid, name, inputs)
                result = self._call_phase(sid, name, inputs, metrics)
                if not result.success:
                    raise PhaseFailedError(result.error or f"phase {name} reported failure")
                self._register_outputs(result, metrics)
            except (
                Exception
            ) as exc:  # a phase may raise anything: record it, never crash the driver
                return self._fail(sid, name, exc, time.time() - start, metrics, report)
        duration = time.time() - start
        result.duration_seconds = duration
        metrics.log({"phase/duration_seconds": duration, "phase/success": True}, phase=name)
        metrics.log({"phase/gate_passed": result.fallback is None}, phase=name)
        if result.fallback is not None:
            log.warning("phase %s: gate failed, fallback applied: %s", name, result.fallback)
            report.fallbacks[name] = result.fallback
            self._emit("fallback", {"phase": name, "fallback": result.fallback})
        self.registry.finish_phase(
            sid,
            name,
            "completed",
            duration,
            key_metric=_key_metric(result),
            result=result.to_json(),
        )
        atomic_write_json(self.home.phase_dir(sid, name) / "result.json", result.to_json())
        report.ran.append(name)
        report.results[name] = result.to_json()
        self._emit("phase_done", {"phase": name, "duration_seconds": duration})
        return result.models

    def _call_phase(
        self, sid: str, name: str, inputs: list[ModelHandle], metrics: MetricsLogger
    ) -> PhaseResult:
        cls = self.phases.get(name)
        section = getattr(self.config.phases, name)
        if not isinstance(section, cls.Config):
            # a phase class with its own Config gets the keys the user changed, not our defaults
            section = cls.Config.model_validate(section.model_dump(exclude_defaults=True))
        run_dir = self.home.phase_dir(sid, name)
        run_dir.mkdir(parents=True, exist_ok=True)
        runtime = self._ensure_runtime()
        inputs = [self._with_object_ref(m) for m in inputs]
        ctx = PhaseContext(
            session_id=sid,
            phase_name=name,
            config=self.config,
            home=self.home,
            registry=self.registry,
            metrics=metrics,
            markers=StepMarkers(run_dir),
            run_dir=run_dir,
            runtime=runtime,
        )
        with _resource_monitor(self.config, metrics, name):
            return cls(section).run(ctx, inputs)

    def _fail(
        self,
        sid: str,
        name: str,
        exc: BaseException,
        duration: float,
        metrics: MetricsLogger,
        report: RunReport,
    ) -> None:
        error = f"{type(exc).__name__}: {exc}"
        log.error("phase %s failed: %s\n%s", name, error, traceback.format_exc())
        metrics.log({"phase/duration_seconds": duration, "phase/success": False}, phase=name)
        self.registry.finish_phase(sid, name, "failed", duration, error=error)
        report.failed_phase, report.error = name, error
        report.bad_input = isinstance(exc, UserInputError)
        self._emit("phase_failed", {"phase": name, "error": error})
        return None

    # ---- helpers ---------------------------------------------------------------------------
    def _check_handoff(self, sid: str, name: str, inputs: list[ModelHandle]) -> None:
        source = previous_phase(name)
        rule = self.config.handoff_rule(source, name) if source else None
        if rule is None:
            return
        ids = [m.model_id for m in inputs]
        try:
            passed = check_handoff(rule, inputs)
        except HandoffError as exc:
            self.registry.record_handoff(sid, source, name, ids, rule.model_dump(), False, str(exc))
            raise
        self.registry.record_handoff(
            sid, source, name, ids, rule.model_dump(), True, "; ".join(passed)
        )

    def _register_outputs(self, result: PhaseResult, metrics: MetricsLogger) -> None:
        for m in [*result.side_models, *result.models]:
            self.registry.register_model(m.metadata, m.path)
        metrics.log({"phase/num_models_created": len(result.models)}, phase=result.phase_name)
        if result.metrics:
            metrics.log(result.metrics, phase=result.phase_name)

    def _ensure_runtime(self) -> Any:
        if self._runtime is None and self._runtime_factory is not None:
            self._runtime = self._runtime_factory()
        return self._runtime

    def _with_object_ref(self, handle: ModelHandle) -> ModelHandle:
        """Hand the weights on through the object store (numpy, zero-copy on a node)."""
        if handle.object_ref is None and self._runtime is not None:
            from agent_forge.runtime.object_store import fetch_state_dict, put_state_dict

            handle.object_ref = put_state_dict(fetch_state_dict(handle))
        return handle

    def _handle(self, model_id: str) -> ModelHandle:
        row = self.registry.get_model(model_id)
        return ModelHandle(row["model_id"], Path(row["path"]), row["metadata"])

    def _outputs_of(self, sid: str, phase: str | None) -> list[ModelHandle]:
        """The models `phase` handed on (its result's `models`, not its side models)."""
        if phase is None:
            return []
        row = self._phase_row(sid, phase)
        handed_on = ((row or {}).get("result") or {}).get("models")
        if handed_on is not None:
            return [self._handle(mid) for mid in handed_on]
        rows = self.registry.list_models(phase=phase, session_id=sid)
        return [ModelHandle(r["model_id"], Path(r["path"]), r["metadata"]) for r in rows]

    def _resolve_inputs(self, phase: str, input_ids: list[str] | None) -> list[ModelHandle]:
        if input_ids:
            return [self._handle(mid) for mid in input_ids]
        source = previous_phase(phase)
        if source is None:
            return []
        for session in self.registry.list_sessions():  # newest first
            row = self._phase_row(session["session_id"], source)
            if row and row["status"] == "completed":
                return self._outputs_of(session["session_id"], source)
        raise NotFoundError(
            f"phase {phase} needs the output of {source}, and no session has completed {source}; "
            f"run it first or pass --input MODEL_ID"
        )

    def _phase_row(self, sid: str, phase: str) -> dict[str, Any] | None:
        return next((p for p in self.registry.get_phases(sid) if p["phase_name"] == phase), None)

    def _unmark_process(self, sid: str) -> None:
        """The session no longer runs here: a later --resume need not wait for this process."""
        record = read_session_file(self.home, sid)
        if record.pop("process", None) is not None:
            write_session_file(self.home, sid, record)

    def _mark_process(self, sid: str) -> None:
        record = read_session_file(self.home, sid)
        record["process"] = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        write_session_file(self.home, sid, record)


def _key_metric(result: PhaseResult) -> dict[str, Any] | None:
    for key, value in result.metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"key": key, "value": value}
    return None


class _resource_monitor:
    """Sample system/* metrics into the session's metrics while a phase runs."""

    def __init__(self, config: PipelineConfig, metrics: MetricsLogger, phase: str):
        self.enabled = config.monitor.enabled
        self.interval = config.monitor.interval_seconds
        self.metrics, self.phase, self.monitor = metrics, phase, None

    def __enter__(self) -> _resource_monitor:
        if self.enabled:
            from agent_forge.core.compute import ResourceMonitor

            def on_sample(sample: dict[str, Any]) -> None:
                values = {k: v for k, v in sample.items() if k.startswith("system/")}
                self.metrics.log(values, step=int(sample["timestamp"] * 1000), phase=self.phase)

            self.monitor = ResourceMonitor(self.interval, on_sample=on_sample)
            self.monitor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.monitor is not None:
            self.monitor.stop()
