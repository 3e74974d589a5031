"""Every CLI verb runs, every --json output parses, and bad input exits 2 naming what is wrong."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

import agent_forge.phases as phase_table
from agent_forge.cli.main import cli
from tests.support.phases import make_phases

pytestmark = pytest.mark.ray
FAST = ["--set", "metrics.wandb.mode=disabled", "--set", "monitor.interval_seconds=0.5"]


@pytest.fixture(scope="module")
def filled_home(tmp_path_factory, ray_session):
    """A home with one session that ran the two test phases."""
    home = tmp_path_factory.mktemp("cli") / "home"
    old = phase_table.PHASES
    phase_table.PHASES = make_phases(steps=1)
    try:
        res = CliRunner().invoke(
            cli, ["run", "--home", str(home), "--json", "--no-dashboard", *FAST]
        )
    finally:
        phase_table.PHASES = old
    assert res.exit_code == 0, res.output
    return home, json.loads(res.stdout)


def invoke(*args: str, **kw):
    return CliRunner().invoke(cli, list(args), **kw)


def test_run_reports_built_and_unbuilt_phases(filled_home):
    _, report = filled_home
    assert report["status"] == "incomplete"
    assert report["ran"] == ["cognate", "evomerge"] and "quietstar" in report["not_built"]


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["phases"],
        ["config"],
        ["models"],
        ["models", "--phase", "cognate"],
        ["logs"],
        ["logs", "--phase", "cognate"],
        ["clean", "--dry-run"],
    ],
)
def test_read_commands_json_parses(filled_home, args):
    home, _ = filled_home
    res = invoke(*args, "--home", str(home), "--json")
    assert res.exit_code == 0, res.output
    json.loads(res.stdout)


def test_status_and_phases_content(filled_home):
    home, report = filled_home
    info = json.loads(invoke("status", "--home", str(home), "--json").stdout)
    assert info["session_id"] == report["session_id"] and info["status"] == "incomplete"
    by_name = {p["phase_name"]: p for p in info["phases"]}
    assert by_name["cognate"]["status"] == "completed"
    assert by_name["curriculum"]["status"] == "not built"
    phases = json.loads(invoke("phases", "--home", str(home), "--json").stdout)["phases"]
    assert [p["built"] for p in phases] == [True] * 4 + [False] * 4  # cognate .. bitnet
    human = invoke("status", "--home", str(home))
    assert human.exit_code == 0 and "not built" in human.output


def test_models_model_info_and_load(filled_home):
    home, _ = filled_home
    rows = json.loads(invoke("models", "--home", str(home), "--json").stdout)
    assert len(rows) == 4 and all(Path(r["path"]).is_dir() for r in rows)
    mid = rows[0]["model_id"]
    info = json.loads(invoke("model", mid, "--info", "--home", str(home), "--json").stdout)
    assert info["metadata"]["model_id"] == mid
    loaded = json.loads(invoke("model", mid, "--load", "--home", str(home), "--json").stdout)
    assert loaded["hashes"] == "verified" and loaded["parameters"] > 1_000_000
    assert loaded["generation"].startswith("unavailable")  # no tokenizer in these test models
    bad = invoke("model", mid[:-3] + "999", "--home", str(home))
    assert bad.exit_code == 2 and "did you mean" in bad.output


def test_export_with_and_without_weights(filled_home, tmp_path):
    home, report = filled_home
    out = tmp_path / "export"
    res = invoke("export", report["session_id"], "--out", str(out), "--home", str(home), "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["models"] == 4
    assert (out / "session.json").is_file() and (out / "metrics.jsonl").is_file()
    cards = list(out.glob("models/*/README.md"))
    assert len(cards) == 4 and not list(out.glob("models/*/model.safetensors"))
    again = invoke("export", report["session_id"], "--out", str(out), "--home", str(home))
    assert again.exit_code == 2 and "not empty" in again.output
    out2 = tmp_path / "export2"
    res = invoke(
        "export", report["session_id"], "--out", str(out2), "--with-weights", "--home", str(home)
    )
    assert res.exit_code == 0 and len(list(out2.glob("models/*/model.safetensors"))) == 4


def test_config_errors_name_the_key_and_exit_2(tmp_path):
    for args, key in [
        (["--set", "run.sed=1"], "run.sed"),
        (["--set", "run.seed=abc"], "run.seed"),
        (["--set", "registry.max_sessions=0"], "registry.max_sessions"),
        (["--profile", "huge"], "profile"),
    ]:
        res = invoke("config", "--home", str(tmp_path), *args)
        assert res.exit_code == 2 and key in res.output, (args, res.output)
    bad = tmp_path / "bad.yaml"
    bad.write_text("ray:\n  train:\n    num_workers: -3\n")
    res = invoke("config", "--validate", str(bad), "--home", str(tmp_path))
    assert res.exit_code == 2 and "ray.train.num_workers" in res.output
    good = tmp_path / "good.yaml"
    good.write_text("run:\n  seed: 3\n")
    res = invoke("config", "--validate", str(good), "--home", str(tmp_path), "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["valid"] is True
    res = invoke("config", "--validate", str(tmp_path / "missing.yaml"), "--home", str(tmp_path))
    assert res.exit_code == 2 and "missing.yaml" in res.output


def _editor(tmp_path: Path, body: str) -> str:
    script = tmp_path / "editor.sh"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_config_edit_saves_only_valid_configs(tmp_path):
    home = tmp_path / "home"
    ok = _editor(tmp_path, "sed -i 's/seed: 42/seed: 7/' \"$1\"")
    res = invoke("config", "--edit", "--home", str(home), env={"EDITOR": ok, "VISUAL": ""})
    assert res.exit_code == 0, res.output
    saved = home / "config.yaml"
    assert "seed: 7" in saved.read_text()
    cfg = json.loads(invoke("config", "--home", str(home), "--json").stdout)
    assert cfg["run"]["seed"] == 7  # run and config read <home>/config.yaml
    before = saved.read_text()
    bad = _editor(tmp_path, "sed -i 's/seed: 7/seed: -1/' \"$1\"")
    res = invoke("config", "--edit", "--home", str(home), env={"EDITOR": bad, "VISUAL": ""})
    assert res.exit_code == 2 and "run.seed" in res.output
    assert saved.read_text() == before  # nothing invalid written


def test_config_edit_saves_only_changes_so_profile_still_applies(tmp_path):
    home = tmp_path / "home"
    ok = _editor(tmp_path, "sed -i 's/seed: 42/seed: 9/' \"$1\"")
    assert (
        invoke("config", "--edit", "--home", str(home), env={"EDITOR": ok, "VISUAL": ""}).exit_code
        == 0
    )
    text = (home / "config.yaml").read_text()
    assert "seed: 9" in text and "use_gpu" not in text
    res = invoke("config", "--profile", "consumer-gpu", "--home", str(home), "--json")
    cfg = json.loads(res.stdout)
    assert cfg["ray"]["train"]["use_gpu"] is True and cfg["run"]["seed"] == 9


def test_read_commands_on_a_new_home_create_nothing(tmp_path):
    home = tmp_path / "never"
    for args in (["status"], ["phases"], ["models"], ["clean", "--dry-run"]):
        res = invoke(*args, "--home", str(home), "--json")
        assert res.exit_code == 0, (args, res.output)
        json.loads(res.stdout)
    assert invoke("logs", "--home", str(home)).exit_code == 2
    assert not home.exists()


def test_model_prompt_without_tokenizer_is_bad_input(filled_home):
    home, _ = filled_home
    mid = json.loads(invoke("models", "--home", str(home), "--json").stdout)[0]["model_id"]
    res = invoke("model", mid, "--prompt", "hi", "--home", str(home))
    assert res.exit_code == 2 and "tokenizer" in res.output


def test_export_refuses_corrupt_weights(tmp_path, ray_session, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setattr(phase_table, "PHASES", make_phases(steps=1))
    res = invoke(
        "run", "--phase", "cognate", "--home", str(home), "--json", "--no-dashboard", *FAST
    )
    sid = json.loads(res.stdout)["session_id"]
    weights = next(home.glob("sessions/*/cognate/*/model.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    res = invoke("export", sid, "--out", str(tmp_path / "x"), "--with-weights", "--home", str(home))
    assert res.exit_code == 1 and "model.safetensors" in res.output
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_run_bad_input_exits_2(tmp_path):
    for args, text in [
        (["run", "--phase", "nope"], "unknown phase"),
        (["run", "--phase", "curriculum"], "not built"),
        (["run", "--input", "x"], "--input needs --phase"),
        (["run", "--set", "ray.num_cpus=0"], "ray.num_cpus"),
        (["status", "--session", "no-such-session"], "no-such-session"),
    ]:
        res = invoke(*args, "--home", str(tmp_path))
        assert res.exit_code == 2 and text in res.output, (args, res.output)


def test_run_exits_1_when_a_phase_fails(tmp_path, ray_session, monkeypatch):
    monkeypatch.setattr(phase_table, "PHASES", make_phases(fail=True))
    res = invoke("run", "--home", str(tmp_path), "--no-dashboard", *FAST)
    assert res.exit_code == 1 and "failed" in res.output and "--resume" in res.output


def test_run_phase_without_its_inputs_or_not_built_says_so(tmp_path):
    res = invoke("run", "--phase", "evomerge", "--home", str(tmp_path), *FAST)
    assert res.exit_code == 2 and "no session has completed cognate" in res.output
    assert "--input" in res.output
    res = invoke("run", "--phase", "curriculum", "--home", str(tmp_path), *FAST)
    assert res.exit_code == 2 and "not built" in res.output


@pytest.mark.slow
def test_validate(tmp_path, ray_session):
    res = invoke("validate", "--home", str(tmp_path), "--json")
    checks = {c["name"]: c for c in json.loads(res.stdout)["checks"]}
    assert all(c["status"] == "pass" for n, c in checks.items() if n != "gpu (nvml)"), checks
    assert checks["gpu (nvml)"]["status"] in ("absent", "pass") and res.exit_code == 0


def test_monitor_refuses_a_port_in_use_naming_it(tmp_path):
    """Checked before Ray or the dashboard start (the served dashboard: tests/dashboard)."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = invoke("monitor", "--home", str(tmp_path), "--port", str(port))
    assert res.exit_code == 2 and f"port {port}" in res.output
    assert not tmp_path.joinpath("registry.db").exists()


def test_a_gpu_run_on_a_cpu_only_ray_fails_in_seconds_with_exit_2(tmp_path, ray_session):
    """run.device=cuda on a cluster with no GPU: exit 2 naming the resource, before any
    training (it used to wait for the GPU forever)."""
    import time

    t0 = time.monotonic()
    res = invoke(
        "run",
        "--phase",
        "cognate",
        "--home",
        str(tmp_path / "home"),
        "--json",
        "--no-dashboard",
        *FAST,
        "--set",
        "run.device=cuda",
    )
    assert res.exit_code == 2, res.output
    report = json.loads(res.stdout)
    assert report["status"] == "failed" and "asks for GPU 1" in report["error"]
    assert "has GPU 0" in report["error"]
    assert time.monotonic() - t0 < 60
