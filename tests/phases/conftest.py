"""One small real Phase 1 run shared by the phase tests that need its models (seconds, not
minutes: wiring, not learning)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent_forge.cli.main import cli

FAST = ["--no-dashboard", "--set", "metrics.wandb.mode=disabled"]
SMALL = {
    "examples_per_level": 12,
    "corpus_bytes": 4000,
    "steps": 40,  # enough to beat the unigram baseline, which is still gated
    "warmup_steps": 4,
    "batch_size": 4,
    "seq_len": 32,
    "checkpoint_every": 20,
    "eval_every": 20,
    "eval_examples_per_level": 3,
    "max_new_tokens": 3,
    "min_val_loss_drop": 0.0,
    "max_val_loss": None,
    "gate_level1_above_chance": False,
}


def sets(phase: str, values: dict) -> list[str]:
    out = []
    for k, v in values.items():
        out += ["--set", f"phases.{phase}.{k}={json.dumps(v)}"]
    return out


def run_cli(home: Path, *args: str) -> tuple[int, dict]:
    res = CliRunner().invoke(cli, ["run", "--home", str(home), "--json", *FAST, *args])
    try:
        return res.exit_code, json.loads(res.stdout)
    except json.JSONDecodeError:
        return res.exit_code, {"output": res.output, "exception": repr(res.exception)}


@pytest.fixture(scope="session")
def small_cognate(tmp_path_factory, ray_session) -> tuple[Path, dict]:
    """(home, run report) of `run --phase cognate` with SMALL settings."""
    home = tmp_path_factory.mktemp("cognate_small") / "home"
    code, report = run_cli(home, "--phase", "cognate", *sets("cognate", SMALL))
    assert code == 0, report
    return home, report


def copy_home(small_cognate: tuple[Path, dict], tmp_path_factory, name: str) -> Path:
    """A module's own copy of the small Phase 1 home (its runs never see another module's)."""
    home = tmp_path_factory.mktemp(name) / "home"
    shutil.copytree(small_cognate[0], home)
    return home


def reasoning_model(home: Path) -> dict:
    """The registry row of the small run's `reasoning` model."""
    from agent_forge.core.registry import ModelRegistry

    return next(m for m in ModelRegistry(home / "registry.db").list_models(phase="cognate")
                if m["metadata"].get("specialization") == "reasoning")  # fmt: skip
