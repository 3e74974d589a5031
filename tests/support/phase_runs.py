"""Small real pipeline runs for tests: the CLI invoked in-process with settings that take
seconds (wiring, not learning), and helpers to copy and query the homes they fill."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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

EVO_SMALL = {
    "generations": 2,
    "levels": [1],
    "per_level": 4,
    "loss_items": 12,
    "max_new_tokens": 3,
    "min_fitness_vs_best_parent": 0.0,  # wiring: the small models' merges may lose
    "min_test_accuracy_retention": 0.0,
}
QS_SMALL = {
    "bake": {
        "examples": 40,
        "steps": 6,
        "batch_size": 4,
        "seq_len": 48,
        "checkpoint_every": 3,
        "warmup_steps": 1,
        "per_level": 3,
        "max_new_tokens": 24,
        "levels": [1],
    },
    "thought_len": 2,
    "n_thoughts": 2,
    "n_true": 2,
    "steps": 4,
    "batch_size": 2,
    "seq_len": 16,
    "eval_every": 2,
    "checkpoint_every": 2,
    "val_batch": 2,
    "levels": [1],
    "per_level": 4,
    "loss_docs": 4,
    "samples": 1,
}
BN_SMALL = {
    "calibration_samples": 16,
    "calibration_seq_len": 32,
    "qat_trigger_loss_increase": 0.0,  # any loss increase triggers QAT
    "qat_steps": 8,
    "qat_strength_warmup_steps": 4,
    "qat_lr_warmup_steps": 2,
    "qat_batch_size": 4,
    "qat_seq_len": 32,
    "qat_eval_every": 4,
    "qat_checkpoint_every": 4,
    "per_level": 4,
    "loss_items": 12,
    "max_new_tokens": 3,
    "latency_seq_len": 32,
    "latency_repeats": 2,
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


def copy_home(small_pipeline: tuple[Path, dict], tmp_path_factory, name: str) -> Path:
    """A module's own copy of the small pipeline's home (its runs never see another module's)."""
    home = tmp_path_factory.mktemp(name) / "home"
    shutil.copytree(small_pipeline[0], home)
    return home


EVAL_SMALL = [
    "--set",
    "eval.examples_per_level=12",
    "--set",
    "eval.corpus_bytes=4000",
    "--set",
    "eval.bootstrap_resamples=200",
]
WIRING_GATES = [  # wiring, not quality: the small models' gates may fail, fallbacks are shown
    "--set",
    'eval.gates.max_loss_increase={"bitnet": 10.0}',
    "--set",
    "handoffs=[]",
]


def run_small_pipeline(home: Path) -> tuple[int, dict]:
    """`agent-forge run` (Phase 1 -> 4, stops at curriculum) with the small settings; Phase 3's
    gate is set out of reach, so the session also shows a fallback."""
    return run_cli(
        home,
        *EVAL_SMALL,
        *WIRING_GATES,
        *sets("cognate", SMALL),
        *sets("evomerge", EVO_SMALL),
        *sets("quietstar", QS_SMALL | {"min_accuracy_gain": 1.0}),  # its gate fails: restore
        *sets("bitnet", BN_SMALL),
    )


def reasoning_model(home: Path) -> dict:
    """The registry row of the small run's Phase 1 `reasoning` model."""
    from agent_forge.core.registry import ModelRegistry

    return next(
        m
        for m in ModelRegistry(home / "registry.db").list_models(phase="cognate")
        if m["metadata"].get("specialization") == "reasoning"
    )
