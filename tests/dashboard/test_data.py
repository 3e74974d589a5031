"""The dashboard's plain functions (agent_forge/dashboard/data.py, config_form.py, plots.py),
without Streamlit: series grouping, model filtering, the archive, the Ray probe, the form specs."""

from __future__ import annotations

import http.server
import io
import socket
import tarfile
import threading
from datetime import UTC, datetime

import pytest

from agent_forge.config.loader import load_config, load_home_config
from agent_forge.core.home import Home
from agent_forge.dashboard import config_form as cf
from agent_forge.dashboard import data, plots


def _row(key, step, value, phase="cognate", ts=1.0):
    return {"phase": phase, "key": key, "step": step, "value": value, "ts": ts}


ROWS = [
    _row("model_1/train/loss", 1, 2.0),
    _row("model_1/train/loss", 0, 3.0),
    _row("model_2/train/loss", 0, 4.0),
    _row("model_1/val/loss", 0, 3.5),
    _row("phase/num_models_created", None, 3),
    _row("phase/gate_passed", None, True),
    _row("phase/gate_verdict", None, "pass"),
    _row("model_1/train/loss_nan", 0, float("nan")),
    _row("generation_1/best_fitness", 1, 0.5, "evomerge"),
    _row("generation_0/best_fitness", 0, 0.4, "evomerge"),
    _row("generation_0/min_fitness", 0, 0.1, "evomerge"),
    _row("step_40/validity_rate", 40, 1.0, "quietstar"),
    _row("step_20/validity_rate", 20, 0.5, "quietstar"),
]


def test_group_series_sorts_by_step_and_gathers_generation_families():
    s = data.group_series(ROWS)
    assert s["model_1/train/loss"] == [(0.0, 3.0), (1.0, 2.0)]
    assert s["model_2/train/loss"] == [(0.0, 4.0)]
    assert s["generation_*/best_fitness"] == [(0.0, 0.4), (1.0, 0.5)]
    assert s["step_*/validity_rate"] == [(20.0, 0.5), (40.0, 1.0)]
    # no step, a bool, a text and a NaN are not series values
    assert "phase/num_models_created" not in s and "model_1/train/loss_nan" not in s
    assert set(data.group_series(ROWS, "evomerge")) == {
        "generation_*/best_fitness",
        "generation_*/min_fitness",
    }


def test_scalar_metrics_are_the_unstepped_values_of_one_phase():
    assert data.scalar_metrics(ROWS, "cognate") == {
        "phase/num_models_created": 3,
        "phase/gate_passed": True,
        "phase/gate_verdict": "pass",
    }
    assert data.scalar_metrics(ROWS, "evomerge") == {}


def test_latest_values_keeps_the_newest_value_of_each_key():
    rows = [_row("a", 0, 1.0, ts=1.0), _row("a", 1, 2.0, ts=3.0), _row("b", 0, 5.0, ts=2.0)]
    latest = data.latest_values(rows)
    assert [(r["key"], r["value"]) for r in latest] == [("a", 2.0), ("b", 5.0)]


def test_plots_draw_the_logged_values():
    fig = plots.cognate_loss_figure(ROWS)
    traces = {t.name: (list(t.x), list(t.y)) for t in fig.data}
    assert traces["model_1/train/loss"] == ([0.0, 1.0], [3.0, 2.0])
    assert traces["model_1/val/loss"] == ([0.0], [3.5])
    assert fig.data[-1].line.dash == "dash"  # validation curves are dashed
    evo = {t.name: list(t.y) for t in plots.evomerge_fitness_figure(ROWS).data}
    assert evo == {"best": [0.4, 0.5], "min": [0.1]}
    assert plots.evomerge_diversity_figure(ROWS) is None  # not logged: no empty chart
    assert plots.phase_figures("curriculum", ROWS) == []


def test_elapsed_and_duration_formatting():
    s = {"created_at": "2026-01-01T00:00:00+00:00", "ended_at": "2026-01-01T01:02:03+00:00"}
    assert data.elapsed_seconds(s) == 3723.0
    running = {"created_at": "2026-01-01T00:00:00+00:00", "status": "running"}
    assert data.elapsed_seconds(running, datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)) == 10.0
    assert data.fmt_duration(3723) == "1h 02m 03s"
    assert data.fmt_duration(65) == "1m 05s" and data.fmt_duration(None) == "-"


MODELS = [
    {
        "model_id": "cognate_reasoning_1",
        "phase_name": "cognate",
        "specialization": "reasoning",
        "parameters": 10,
        "size_mb": 1.23456,
        "created_at": "t1",
        "metadata": {"tags": ["x"]},
    },
    {
        "model_id": "cognate_memory_1",
        "phase_name": "cognate",
        "specialization": None,
        "parameters": 10,
        "size_mb": 1.0,
        "created_at": "t2",
        "metadata": {"tags": []},
    },
    {
        "model_id": "evomerge_champion_1",
        "phase_name": "evomerge",
        "specialization": None,
        "parameters": 10,
        "size_mb": 1.0,
        "created_at": "t3",
        "metadata": {"tags": ["x"]},
    },
]


def test_filter_models_by_text_and_phase():
    ids = lambda ms: [m["model_id"] for m in ms]  # noqa: E731
    assert ids(data.filter_models(MODELS)) == ids(MODELS)
    assert ids(data.filter_models(MODELS, "REASON")) == ["cognate_reasoning_1"]
    assert ids(data.filter_models(MODELS, "", ["evomerge"])) == ["evomerge_champion_1"]
    assert ids(data.filter_models(MODELS, "1", ["cognate"])) == ids(MODELS[:2])
    assert data.model_table(MODELS[:1])[0] == {
        "model_id": "cognate_reasoning_1",
        "phase": "cognate",
        "parameters": 10,
        "size_mb": 1.235,
        "created": "t1",
    }


def test_archive_bytes_round_trip(tmp_path):
    folder = tmp_path / "model_a"
    (folder / "sub").mkdir(parents=True)
    files = {
        "config.json": b'{"a": 1}',
        "model.safetensors": bytes(range(256)) * 40,
        "sub/extra.txt": b"hello",
    }
    for name, payload in files.items():
        (folder / name).write_bytes(payload)
    blob = data.archive_bytes(folder)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        got = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    assert got == {f"model_a/{k}": v for k, v in files.items()}


def test_missing_home_gives_no_registry_and_creates_nothing(tmp_path):
    home = Home(tmp_path / "nowhere")
    with data.open_registry(home) as registry:
        assert registry is None
        assert data.list_sessions(registry) == []
    assert not home.root.exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ray_dashboard_url_given_probed_or_absent():
    assert data.ray_dashboard_url("http://h:1") == "http://h:1"
    closed = f"http://127.0.0.1:{_free_port()}"
    assert data.ray_dashboard_url(None, probe=closed) is None
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert data.ray_dashboard_url(None, probe=url) == url
    finally:
        server.shutdown()
        server.server_close()


def test_form_specs_follow_the_pydantic_fields():
    specs = {s.key: s for s in cf.section_specs("phases.cognate")}
    assert specs["phases.cognate.steps"].kind == "text"
    assert specs["phases.cognate.model_size"].kind == "select"
    assert specs["phases.cognate.model_size"].options == ("tiny", "consumer-gpu")
    assert specs["phases.cognate.gate_level1_above_chance"].kind == "checkbox"
    assert specs["phases.cognate.specializations"].kind == "yaml"
    assert specs["phases.cognate.act_max_steps"].optional
    assert specs["phases.cognate.lr"].help == "Peak lr of Muon and AdamW."
    ray = {s.key for s in cf.section_specs("ray")}
    assert "ray.train.num_workers" in ray  # nested models are flattened
    assert cf.section_specs("phases.curriculum") == []  # not built: no keys


def test_form_values_validate_and_save(tmp_path):
    base = load_config().model_dump(mode="json")
    specs = [*cf.section_specs("run"), *cf.section_specs("phases.cognate")]
    bad, yaml_errors = cf.apply_values(base, {"run.seed": "-1", "phases.cognate.steps": "0"}, specs)
    assert yaml_errors == {}
    home = tmp_path / "new_home"
    cfg, errors = cf.validate_and_save(home, bad)
    assert cfg is None and not home.exists()
    placed = cf.place_errors(errors, [s.key for s in specs])
    assert placed["run.seed"] == ["run.seed: Input should be greater than or equal to 0"]
    assert placed["phases.cognate.steps"] == [
        "phases.cognate.steps: Input should be greater than or equal to 1"
    ]
    _, yaml_errors = cf.apply_values(base, {"phases.cognate.level_copies": "[1, 2"}, specs)
    assert "phases.cognate.level_copies" in yaml_errors
    good, _ = cf.apply_values(base, {"run.seed": "7", "phases.cognate.lr": "0.02"}, specs)
    cfg, errors = cf.validate_and_save(home, good)
    assert errors == [] and cfg is not None
    text = (home / "config.yaml").read_text()
    assert text.startswith(cf.SAVE_HEADER)
    back = load_home_config(home)
    assert back.run.seed == 7 and back.phases.cognate.lr == pytest.approx(0.02)
    expected = load_config().model_dump(mode="json")
    expected["run"]["seed"], expected["phases"]["cognate"]["lr"] = 7, 0.02
    assert back.model_dump(mode="json") == expected
