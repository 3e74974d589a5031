"""MetricsLogger: jsonl, registry and W&B sinks; validation; thread safety; read_metrics."""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterator

import pytest

from agent_forge.config.schema import WandbConfig
from agent_forge.core.home import Home
from agent_forge.core.metrics import (
    SYSTEM_METRICS,
    MetricsLogger,
    check_wandb_offline,
    read_metrics,
)
from agent_forge.core.registry import ModelRegistry

OFF = WandbConfig(mode="disabled")


@pytest.fixture
def home(tmp_path) -> Home:
    return Home(tmp_path / "home").ensure()


@pytest.fixture
def registry(home) -> Iterator[ModelRegistry]:
    reg = ModelRegistry(home.registry_db)
    reg.create_session("s1", "tiny", {})
    yield reg
    reg.close()


def _lines(home: Home, sid: str) -> list[dict]:
    return [json.loads(line) for line in home.metrics_file(sid).read_text().splitlines()]


def test_jsonl_lines_parse_and_match(home):
    with MetricsLogger(home, "s1", wandb_cfg=OFF) as ml:
        ml.log({"model_1/train/loss": 2.5, "model_1/train/tokens": 128}, step=3, phase="cognate")
        ml.log({"done": True, "note": "ok", "missing": None})
    rows = _lines(home, "s1")
    assert [(r["key"], r["value"], r["phase"], r["step"]) for r in rows] == [
        ("model_1/train/loss", 2.5, "cognate", 3),
        ("model_1/train/tokens", 128, "cognate", 3),
        ("done", True, None, None),
        ("note", "ok", None, None),
        ("missing", None, None, None),
    ]
    assert all(r["session_id"] == "s1" and isinstance(r["ts"], float) for r in rows)


def test_resumed_logger_appends(home):
    with MetricsLogger(home, "s1", wandb_cfg=OFF) as ml:
        ml.log({"a": 1}, step=0)
    with MetricsLogger(home, "s1", wandb_cfg=OFF) as ml:
        ml.log({"a": 2}, step=1)
    assert [r["value"] for r in read_metrics(home, "s1")] == [1, 2]


def test_registry_receives_rows(home, registry):
    with MetricsLogger(home, "s1", registry=registry, wandb_cfg=OFF) as ml:
        ml.log({"loss": 1.5, "acc": 0.25}, step=7, phase="evomerge")
        ml.log({"note": "merged", "done": True})
    rows = [(r["phase"], r["key"], r["step"], r["value"]) for r in registry.get_metrics("s1")]
    assert sorted(rows, key=str) == sorted(
        [
            ("evomerge", "acc", 7, 0.25),
            ("evomerge", "loss", 7, 1.5),
            (None, "note", None, "merged"),
            (None, "done", None, 1.0),
        ],
        key=str,
    )


def test_nan_and_inf_stored_as_none_with_warning(home, registry, caplog):
    with caplog.at_level(logging.WARNING, logger="agent_forge.core.metrics"):
        with MetricsLogger(home, "s1", registry=registry, wandb_cfg=OFF) as ml:
            ml.log({"loss": math.nan, "grad": math.inf, "ok": 1.0}, step=0)
    assert {r["key"]: r["value"] for r in _lines(home, "s1")} == {
        "loss": None,
        "grad": None,
        "ok": 1.0,
    }
    assert {r["key"]: r["value"] for r in registry.get_metrics("s1")} == {
        "loss": None,
        "grad": None,
        "ok": 1.0,
    }
    assert "'loss'" in caplog.text and "'grad'" in caplog.text


@pytest.mark.parametrize("key", ["", "has space", "tab\tkey"])
def test_bad_key_raises_naming_it(home, key):
    with MetricsLogger(home, "s1", wandb_cfg=OFF) as ml, pytest.raises(ValueError) as err:
        ml.log({key: 1.0})
    assert repr(key) in str(err.value)


def test_bad_value_type_raises_naming_key(home):
    with MetricsLogger(home, "s1", wandb_cfg=OFF) as ml, pytest.raises(ValueError, match="'bad'"):
        ml.log({"bad": [1, 2]})
    assert not home.metrics_file("s1").exists()  # nothing half-written


def test_numpy_scalars_become_python_numbers(home):
    np = pytest.importorskip("numpy")
    with MetricsLogger(home, "s1", wandb_cfg=OFF) as ml:
        ml.log({"f": np.float32(0.5), "i": np.int64(3)})
    assert [(r["key"], r["value"]) for r in _lines(home, "s1")] == [("f", 0.5), ("i", 3)]


def test_thread_safety_8_threads_x_200(home, registry):
    ml = MetricsLogger(home, "s1", registry=registry, wandb_cfg=OFF)

    def work(t: int) -> None:
        for i in range(200):
            ml.log({f"thread_{t}/value": float(i)}, step=i, phase="p")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    ml.finish()
    rows = _lines(home, "s1")  # json.loads would fail on an interleaved line
    assert len(rows) == 1600 == len(registry.get_metrics("s1"))
    for t in range(8):
        steps = [r["step"] for r in rows if r["key"] == f"thread_{t}/value"]
        assert steps == list(range(200))


def test_read_metrics_filters_and_tolerates_truncated_last_line(home):
    with MetricsLogger(home, "s1", wandb_cfg=OFF) as ml:
        ml.log({"model_1/train/loss": 1.0, "model_2/train/loss": 2.0}, step=0, phase="cognate")
        ml.log({"generation_0/best_fitness": 0.5}, step=0, phase="evomerge")
    with home.metrics_file("s1").open("a") as f:
        f.write('{"ts": 1.0, "session_id": "s1", "key": "tor')  # a crash mid-write
    assert len(read_metrics(home, "s1")) == 3
    assert [r["key"] for r in read_metrics(home, "s1", phase="evomerge")] == [
        "generation_0/best_fitness"
    ]
    assert [r["value"] for r in read_metrics(home, "s1", key_prefix="model_2/")] == [2.0]
    # A resumed run starts a fresh line rather than gluing onto the torn one.
    with MetricsLogger(home, "s1", wandb_cfg=OFF) as ml:
        ml.log({"after": 1}, step=1)
    assert [r["key"] for r in read_metrics(home, "s1")][-1] == "after"
    assert read_metrics(home, "no-such-session") == []


def test_disabled_mode_writes_no_wandb_dir(tmp_path):
    home = Home(tmp_path / "home")
    with MetricsLogger(home, "s1", wandb_cfg=OFF) as ml:
        ml.log({"a": 1.0})
    assert not home.wandb_dir.exists()
    assert ml.wandb_error is None


def test_system_metric_names():
    assert all(name.startswith("system/") for name in SYSTEM_METRICS)
    assert "system/gpu_temperature" in SYSTEM_METRICS and len(SYSTEM_METRICS) == 7


def test_log_after_finish_raises(home):
    ml = MetricsLogger(home, "s1", wandb_cfg=OFF)
    ml.finish()
    with pytest.raises(RuntimeError, match="finished"):
        ml.log({"a": 1.0})


def test_wandb_offline_writes_a_run_under_home(home):
    cfg = WandbConfig(mode="offline", project="forge-test")
    with MetricsLogger(home, "sess-wb", wandb_cfg=cfg, run_config={"seed": 1}) as ml:
        ml.log({"loss": 1.0}, step=0, phase="cognate")
        ml.log({"loss": math.nan}, step=1, phase="cognate")  # None is kept out of W&B
        ml.log({"note": "text"})
    assert ml.wandb_error is None, ml.wandb_error
    assert ml.wandb_init_seconds is not None
    runs = list(home.wandb_dir.rglob("run-sess-wb.wandb"))
    assert len(runs) == 1 and runs[0].stat().st_size > 0
    assert len(read_metrics(home, "sess-wb")) == 3


def test_check_wandb_offline(tmp_path):
    ok, message = check_wandb_offline(tmp_path / "check")
    assert ok, message
    assert ".wandb" in message
