"""The dashboard's pages, run in process with Streamlit's AppTest: app.py with its
st.navigation, each page reached with `switch_page`, the home given by $AGENT_FORGE_HOME.
Real homes only: a missing one, and the one the pipeline's small phases fill (conftest.py)."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import agent_forge.dashboard
from agent_forge.config.loader import load_config, load_home_config
from agent_forge.core.registry import ModelRegistry

APP = Path(agent_forge.dashboard.__file__).parent / "app.py"
PAGES = ["overview", "phase_details", "model_browser", "system_monitor", "configuration"]
WAL = ("registry.db-wal", "registry.db-shm")  # SQLite's own files, touched by any reader


def open_page(monkeypatch, home: Path, page: str) -> AppTest:
    monkeypatch.setenv("AGENT_FORGE_HOME", str(home))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    if page != "overview":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def snapshot(home: Path) -> dict[str, tuple[int, int]]:
    # A writable registry left unreachable by an in-process run checkpoints its WAL into
    # registry.db when collected (a read-only connection never does): collect it first.
    gc.collect()
    return {
        str(p.relative_to(home)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(home.rglob("*"))
        if p.is_file() and p.name not in WAL
    }


def figures(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def traces(fig: dict) -> dict[str, tuple[list, list]]:
    return {t["name"]: (t["x"], t["y"]) for t in fig["data"]}


def registry_of(home: Path) -> ModelRegistry:
    return ModelRegistry(home / "registry.db", read_only=True)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("kind", ["missing", "empty folder"])
def test_pages_show_the_empty_state_and_create_nothing(monkeypatch, tmp_path, page, kind):
    home = tmp_path / "home"
    if kind == "empty folder":
        home.mkdir()
    at = open_page(monkeypatch, home, page)
    assert any(f"No sessions yet in {home}" in i.value for i in at.info)
    assert home.exists() == (kind == "empty folder")
    if home.exists():
        assert list(home.iterdir()) == []


def test_overview_follows_a_run_in_progress(monkeypatch, tmp_path):
    """Another process's writes (here: the registry's own writer, as `run` uses it) show up on
    the next rerun, with no restart and no stale cache."""
    home = tmp_path / "home"
    writer = ModelRegistry(home / "registry.db")
    sid = "11111111-2222-4333-8444-555555555555"
    writer.create_session(sid, "tiny", {})
    writer.start_phase(sid, "cognate")
    writer.log_metrics(sid, "cognate", 0, {"model_1/train/loss": 7.5})
    at = open_page(monkeypatch, home, "overview")
    assert {m.label: m.value for m in at.metric}["Status"] == "running"
    live = lambda: at.dataframe[0].value.set_index("key")["value"].to_dict()  # noqa: E731
    assert live() == {"model_1/train/loss": "7.5"}
    writer.log_metrics(sid, "cognate", 1, {"model_1/train/loss": 6.25, "model_1/val/loss": 6.5})
    writer.finish_phase(sid, "cognate", "completed", duration_seconds=3.0)
    at.run()
    assert not at.exception
    assert live() == {"model_1/train/loss": "6.25", "model_1/val/loss": "6.5"}
    assert "completed" in [c.value for c in at.caption]
    writer.close()


@pytest.mark.slow
def test_every_page_renders_and_leaves_the_home_unchanged(monkeypatch, dashboard_home):
    before = snapshot(dashboard_home)
    for page in PAGES:
        at = open_page(monkeypatch, dashboard_home, page)
        assert not any("No sessions yet" in i.value for i in at.info), page
        if page == "phase_details":  # every phase, built or not
            for phase in at.selectbox(key="details_phase").options:
                at.selectbox(key="details_phase").set_value(phase).run()
                assert not at.exception, phase
    assert snapshot(dashboard_home) == before


@pytest.mark.slow
def test_overview_shows_the_latest_session_and_all_eight_phases(monkeypatch, dashboard_home):
    at = open_page(monkeypatch, dashboard_home, "overview")
    latest = registry_of(dashboard_home).latest_session()
    assert at.selectbox(key="overview_session").value == latest["session_id"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Status"] == "incomplete" and metrics["Phases completed"] == "4 / 8"
    captions = " ".join(c.value for c in at.caption)
    assert captions.count("completed") == 4  # cognate, evomerge, quietstar, bitnet
    assert captions.count("not built") == 4  # curriculum, baking, experts, compression


@pytest.mark.slow
def test_model_table_lists_the_registered_models_and_narrows(monkeypatch, dashboard_home):
    registered = [m["model_id"] for m in registry_of(dashboard_home).list_models()]
    at = open_page(monkeypatch, dashboard_home, "model_browser")
    table = lambda: at.dataframe[0].value  # noqa: E731
    assert table()["model_id"].tolist() == registered
    assert list(table().columns) == ["model_id", "phase", "parameters", "size_mb", "created"]
    assert at.download_button[0].proto.label.startswith("Download")
    at.text_input(key="model_search").input("reasoning").run()
    assert table()["model_id"].tolist() == [m for m in registered if "reasoning" in m]
    at.text_input(key="model_search").input("").run()
    at.multiselect(key="model_phases").select("evomerge").run()
    assert table()["model_id"].tolist() == [m for m in registered if m.startswith("evomerge")]
    assert table()["phase"].unique().tolist() == ["evomerge"]


@pytest.mark.slow
def test_load_checks_hashes_and_generates_new_text(monkeypatch, dashboard_home):
    model = registry_of(dashboard_home).list_models(phase="bitnet")[0]
    at = open_page(monkeypatch, dashboard_home, "model_browser")
    at.selectbox(key="model_pick").set_value(model["model_id"]).run()
    at.button(key=f"load_{model['model_id']}").click().run()
    assert not at.exception
    shown = [json.loads(j.value) for j in at.json]
    config = json.loads((Path(model["path"]) / "config.json").read_text())
    assert config in shown  # config.json, as on disk
    assert any(s.get("hashes") == "verified" for s in shown)
    at.number_input(key=f"max_new_{model['model_id']}").set_value(4).run()
    at.button(key=f"gen_{model['model_id']}").click().run()
    assert not at.exception
    assert any(m.value == "**New text**" for m in at.markdown)


@pytest.mark.slow
def test_phase_details_plots_the_logged_values(monkeypatch, dashboard_home):
    registry = registry_of(dashboard_home)
    sid = registry.latest_session()["session_id"]
    rows = registry.get_metrics(sid)

    def logged(phase: str, key: str) -> list[float]:
        return [r["value"] for r in rows if r["phase"] == phase and r["key"] == key]

    at = open_page(monkeypatch, dashboard_home, "phase_details")
    assert at.selectbox(key="details_phase").value == "cognate"
    loss = traces(figures(at)[0])
    for n in (1, 2, 3):
        assert loss[f"model_{n}/train/loss"][1] == logged("cognate", f"model_{n}/train/loss")
        if logged("cognate", f"model_{n}/val/loss"):
            assert loss[f"model_{n}/val/loss"][1] == logged("cognate", f"model_{n}/val/loss")

    at.selectbox(key="details_phase").set_value("evomerge").run()
    fitness = traces(figures(at)[0])
    gens = sorted(
        {
            int(r["key"].split("/")[0].split("_")[1])
            for r in rows
            if r["key"].startswith("generation_")
        }
    )
    assert gens and fitness["best"][0] == [float(g) for g in gens]
    for stat in ("best", "avg", "min"):
        assert fitness[stat][1] == [
            logged("evomerge", f"generation_{g}/{stat}_fitness")[0] for g in gens
        ]
    diversity = traces(figures(at)[1])["generation_*/diversity_score"][1]
    assert diversity == [logged("evomerge", f"generation_{g}/diversity_score")[0] for g in gens]

    # the generic chooser plots any series the phase logged
    at.multiselect(key="series_evomerge").select("generation_*/std_fitness").run()
    chosen = traces(figures(at)[-1])["generation_*/std_fitness"][1]
    assert chosen == [logged("evomerge", f"generation_{g}/std_fitness")[0] for g in gens]

    for phase in ("quietstar", "bitnet"):
        at.selectbox(key="details_phase").set_value(phase).run()
        assert not at.exception and figures(at), phase
    at.selectbox(key="details_phase").set_value("curriculum").run()
    assert any("not built" in i.value for i in at.info)


def _form(at: AppTest, values: dict[str, str]) -> AppTest:
    for key, value in values.items():
        at.text_input(key=f"cfg::{key}").input(value)
    return at.button(key="cfg_save").click().run()


@pytest.mark.slow
def test_configuration_rejects_out_of_range_values_and_writes_nothing(monkeypatch, writable_home):
    target = writable_home / "config.yaml"
    assert not target.exists()
    at = open_page(monkeypatch, writable_home, "configuration")
    _form(at, {"phases.cognate.steps": "0", "run.seed": "-1"})
    assert not at.exception
    errors = [e.value for e in at.error]
    assert "phases.cognate.steps: Input should be greater than or equal to 1" in errors
    assert "run.seed: Input should be greater than or equal to 0" in errors
    assert not target.exists()
    assert not at.success


@pytest.mark.slow
def test_configuration_saves_a_valid_change(monkeypatch, writable_home):
    at = open_page(monkeypatch, writable_home, "configuration")
    _form(at, {"phases.cognate.steps": "123"})
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success
    back = load_home_config(writable_home)
    assert back.phases.cognate.steps == 123
    expected = load_config(back.profile).model_dump(mode="json")
    expected["phases"]["cognate"]["steps"] = 123
    assert back.model_dump(mode="json") == expected
    assert (writable_home / "config.yaml").read_text().startswith("# Saved by the Agent Forge")


def test_configuration_save_creates_a_missing_home(monkeypatch, tmp_path):
    home = tmp_path / "fresh"
    at = open_page(monkeypatch, home, "configuration")
    _form(at, {"run.seed": "9"})
    assert not at.exception and at.success
    assert load_home_config(home).run.seed == 9
