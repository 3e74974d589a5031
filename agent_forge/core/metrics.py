"""MetricsLogger: every metric goes to the session's metrics.jsonl, the registry and W&B.

The jsonl file is the record of truth; the registry is the queryable copy; Weights & Biases
(offline by default, ARCHITECTURE.md §7) is a sink whose failure never loses a metric.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Protocol

from agent_forge.core.home import Home

if TYPE_CHECKING:
    from agent_forge.config.schema import WandbConfig

logger = logging.getLogger(__name__)

MetricValue = float | int | bool | str | None

# System metric names (spec §3.3.2), written by the ResourceMonitor's on_sample callback.
SYSTEM_CPU_PERCENT = "system/cpu_percent"
SYSTEM_RAM_USED_GB = "system/ram_used_gb"
SYSTEM_RAM_PERCENT = "system/ram_percent"
SYSTEM_GPU_UTILIZATION = "system/gpu_utilization"
SYSTEM_VRAM_USED_GB = "system/vram_used_gb"
SYSTEM_VRAM_PERCENT = "system/vram_percent"
SYSTEM_GPU_TEMPERATURE = "system/gpu_temperature"
SYSTEM_METRICS: tuple[str, ...] = (
    SYSTEM_CPU_PERCENT,
    SYSTEM_RAM_USED_GB,
    SYSTEM_RAM_PERCENT,
    SYSTEM_GPU_UTILIZATION,
    SYSTEM_VRAM_USED_GB,
    SYSTEM_VRAM_PERCENT,
    SYSTEM_GPU_TEMPERATURE,
)


class MetricsSink(Protocol):
    """What MetricsLogger needs from the registry (`ModelRegistry.log_metrics`)."""

    def log_metrics(
        self,
        session_id: str,
        phase: str | None,
        step: int | None,
        metrics: dict[str, MetricValue],
    ) -> None: ...


def validate_metrics(metrics: Mapping[str, Any]) -> dict[str, MetricValue]:
    """Check keys and values; NaN/inf become None (with a warning), never a number.

    Numeric types other than int/float (numpy scalars) are converted to int or float.
    Raises ValueError naming the key for an empty or whitespace-containing key or a value
    that is not a number, bool, str or None.
    """
    clean: dict[str, MetricValue] = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not key or any(c.isspace() for c in key):
            raise ValueError(f"metric key {key!r}: must be a non-empty string without whitespace")
        if value is None or isinstance(value, bool | str):
            clean[key] = value
        elif isinstance(value, numbers.Integral):
            clean[key] = int(value)
        elif isinstance(value, numbers.Real):
            number = float(value)
            if math.isfinite(number):
                clean[key] = number
            else:
                logger.warning("metric %r is %s; stored as None", key, number)
                clean[key] = None
        else:
            raise ValueError(
                f"metric {key!r}: value {value!r} of type {type(value).__name__} is not a "
                "finite number, bool, str or None"
            )
    return clean


def _wandb_settings(wandb: Any) -> Any:
    """Quiet, fast settings: our ResourceMonitor logs system/* itself, so W&B's stats are off."""
    wanted = {
        "silent": True,
        "console": "off",
        "x_disable_stats": True,
        "x_disable_meta": True,
        "x_disable_machine_info": True,
        "disable_git": True,
        "disable_code": True,
    }
    known = getattr(wandb.Settings, "model_fields", None)
    if known is not None:  # keep only what the installed version offers
        wanted = {k: v for k, v in wanted.items() if k in known}
    return wandb.Settings(**wanted)


def _init_wandb(
    directory: Path,
    mode: str,
    project: str,
    entity: str | None,
    run_id: str,
    config: dict[str, Any] | None,
) -> Any:
    import wandb

    directory.mkdir(parents=True, exist_ok=True)
    return wandb.init(
        mode=mode,
        dir=str(directory),
        project=project,
        entity=entity,
        id=run_id,
        resume="allow",
        config=config,
        reinit="create_new",  # several loggers (sessions, tests) in one process stay separate
        settings=_wandb_settings(wandb),
    )


class MetricsLogger:
    """Thread-safe logger of one session's metrics to metrics.jsonl, the registry and W&B."""

    def __init__(
        self,
        home: Home,
        session_id: str,
        registry: MetricsSink | None = None,
        wandb_cfg: WandbConfig | None = None,
        run_config: dict[str, Any] | None = None,
    ) -> None:
        self.home = home
        self.session_id = session_id
        self.registry = registry
        self.wandb_mode: str = wandb_cfg.mode if wandb_cfg is not None else "offline"
        self.wandb_project: str = wandb_cfg.project if wandb_cfg is not None else "agent-forge"
        self.wandb_entity: str | None = wandb_cfg.entity if wandb_cfg is not None else None
        self.run_config = run_config
        self.wandb_error: str | None = None
        self.wandb_init_seconds: float | None = None
        self._wandb_run: Any = None
        self._wandb_tried = False
        self._file: IO[str] | None = None
        self._lock = threading.Lock()
        self._finished = False

    @property
    def path(self) -> Path:
        return self.home.metrics_file(self.session_id)

    def log(
        self,
        metrics: Mapping[str, MetricValue],
        step: int | None = None,
        phase: str | None = None,
    ) -> None:
        """Record `metrics` (key -> value) at `step` of `phase`; one jsonl line per key."""
        clean = validate_metrics(metrics)
        if not clean:
            return
        with self._lock:
            if self._finished:
                raise RuntimeError(f"MetricsLogger for session {self.session_id} is finished")
            self._write_jsonl(clean, step, phase)
            if self.registry is not None:
                self.registry.log_metrics(self.session_id, phase, step, clean)
            self._log_wandb(clean, step, phase)

    def _write_jsonl(
        self, clean: dict[str, MetricValue], step: int | None, phase: str | None
    ) -> None:
        if self._file is None:
            self._file = self._open_append()
        ts = time.time()
        lines = [
            json.dumps(
                {
                    "ts": ts,
                    "session_id": self.session_id,
                    "phase": phase,
                    "step": step,
                    "key": key,
                    "value": value,
                },
                allow_nan=False,
            )
            for key, value in clean.items()
        ]
        self._file.write("\n".join(lines) + "\n")
        self._file.flush()

    def _open_append(self) -> IO[str]:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        # A crash mid-write leaves a line without "\n"; start a fresh line so the resumed
        # run's first record is not glued onto the torn one.
        torn = False
        if path.exists() and path.stat().st_size > 0:
            with path.open("rb") as f:
                f.seek(-1, 2)
                torn = f.read(1) != b"\n"
        handle = path.open("a", encoding="utf-8")
        if torn:
            handle.write("\n")
        return handle

    def _log_wandb(
        self, clean: dict[str, MetricValue], step: int | None, phase: str | None
    ) -> None:
        if self.wandb_mode == "disabled":
            return
        if not self._wandb_tried:
            self._start_wandb()
        if self._wandb_run is None:
            return
        # No explicit W&B step: W&B steps must be monotonic across phases, phase steps restart.
        payload: dict[str, MetricValue] = {k: v for k, v in clean.items() if v is not None}
        if phase is not None and step is not None:
            payload[f"{phase}/step"] = step
        try:
            self._wandb_run.log(payload)
        except Exception as exc:  # W&B is a sink: never lose the jsonl/registry copy over it
            self.wandb_error = f"wandb.log failed: {exc!r}"
            logger.warning(
                "%s; W&B logging stopped for session %s", self.wandb_error, self.session_id
            )
            self._wandb_run = None

    def _start_wandb(self) -> None:
        self._wandb_tried = True
        start = time.perf_counter()
        try:
            self._wandb_run = _init_wandb(
                self.home.wandb_dir,
                self.wandb_mode,
                self.wandb_project,
                self.wandb_entity,
                self.session_id,
                self.run_config,
            )
        except Exception as exc:
            self.wandb_error = f"wandb.init ({self.wandb_mode}) failed: {exc!r}"
            logger.warning(
                "%s; metrics still go to %s and the registry", self.wandb_error, self.path
            )
            return
        self.wandb_init_seconds = time.perf_counter() - start
        logger.debug("wandb.init took %.2f s", self.wandb_init_seconds)

    def finish(self) -> None:
        """Close the jsonl file and finish the W&B run. Idempotent."""
        with self._lock:
            self._finished = True
            if self._file is not None:
                self._file.close()
                self._file = None
            run, self._wandb_run = self._wandb_run, None
        if run is not None:
            try:
                run.finish()
            except Exception as exc:
                self.wandb_error = f"wandb finish failed: {exc!r}"
                logger.warning(self.wandb_error)

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish()


def read_metrics(
    home: Home,
    session_id: str,
    phase: str | None = None,
    key_prefix: str | None = None,
) -> list[dict[str, Any]]:
    """Records of a session's metrics.jsonl, in write order, filtered by phase and key prefix.

    A line that does not parse (torn by a crash) is skipped with a warning. No file -> [].
    """
    path = home.metrics_file(session_id)
    if not path.exists():
        return []
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("%s:%d: skipping a torn metrics line", path, lineno)
                continue
            if not isinstance(record, dict) or "key" not in record:
                logger.warning("%s:%d: skipping a line that is not a metric record", path, lineno)
                continue
            if phase is not None and record.get("phase") != phase:
                continue
            if key_prefix is not None and not str(record["key"]).startswith(key_prefix):
                continue
            records.append(record)
    return records


def check_wandb_offline(directory: str | Path | None = None) -> tuple[bool, str]:
    """Init W&B offline under `directory`, log one value, finish, and confirm a .wandb file.

    `directory=None` uses a throwaway temporary directory. Never raises: returns
    (ok, message) for the CLI's `validate`.
    """
    if directory is None:
        with tempfile.TemporaryDirectory(prefix="forge-wandb-check-") as tmp:
            return check_wandb_offline(tmp)
    directory = Path(directory)
    run_id = f"forge-check-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    try:
        import wandb

        run = _init_wandb(directory, "offline", "agent-forge-check", None, run_id, None)
        run.log({"check/value": 1.0})
        run.finish()
    except Exception as exc:
        return False, f"wandb offline run failed under {directory}: {exc!r}"
    seconds = time.perf_counter() - start
    written = sorted(directory.rglob(f"*{run_id}*.wandb"))
    if not written:
        return False, f"wandb offline run finished but wrote no .wandb file under {directory}"
    return (
        True,
        f"wandb {wandb.__version__} offline run OK: wrote {written[0].name} ({seconds:.1f} s)",
    )
