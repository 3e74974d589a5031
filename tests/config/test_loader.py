"""Config: profiles, precedence, and errors that name the offending key."""

from __future__ import annotations

import pytest

from agent_forge.config import PipelineConfig, load_config, profile_names
from agent_forge.config.loader import config_to_yaml, read_yaml_file
from agent_forge.errors import ConfigError, DataFileError


def test_profiles_exist_and_tiny_is_default():
    assert {"tiny", "consumer-gpu"} <= set(profile_names())
    cfg = load_config()
    assert cfg.profile == "tiny" and cfg.run.device == "cpu"


def test_ray_configs_are_read_per_profile():
    tiny, gpu = load_config("tiny"), load_config("consumer-gpu")
    assert tiny.ray.train.use_gpu is False and gpu.ray.train.use_gpu is True
    assert gpu.ray.tune.gpus_per_trial == 0.25


def test_handoff_rules_are_profile_data():
    tiny = load_config("tiny").handoff_rule("cognate", "evomerge")
    gpu = load_config("consumer-gpu").handoff_rule("cognate", "evomerge")
    assert gpu.param_range == (22_500_000, 27_500_000)  # spec: 25M +- 10%
    assert tiny.param_range != gpu.param_range and tiny.num_models == 3
    assert set(tiny.required_metadata) == {"specialization", "final_loss", "seed"}


def test_precedence_profile_then_file_then_set(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("run:\n  seed: 5\nmonitor:\n  interval_seconds: 9\n")
    cfg = load_config(config_file=f, overrides=["run.seed=6"])
    assert cfg.run.seed == 6 and cfg.monitor.interval_seconds == 9
    f.write_text("profile: consumer-gpu\n")
    assert load_config(config_file=f).profile == "consumer-gpu"


@pytest.mark.parametrize(
    "override,key,words",
    [
        ("run.sed=1", "run.sed", "unknown key"),
        ("phases.cognate.layers=4", "phases.cognate.layers", "unknown key"),
        ("run.seed=abc", "run.seed", "integer"),
        ("ray.train.use_gpu=maybe", "ray.train.use_gpu", "boolean"),
        ("registry.max_sessions=0", "registry.max_sessions", "greater than or equal to 1"),
        ("ray.dashboard_port=80", "ray.dashboard_port", "1024"),
        ("metrics.wandb.mode=cloud", "metrics.wandb.mode", "offline"),
        ("run=3", "run", "dictionary"),
        ("noequals", "noequals", "KEY=VALUE"),
    ],
)
def test_bad_values_name_the_key(override, key, words):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[override])
    assert info.value.key == key and words in str(info.value)
    assert info.value.exit_code == 2


def test_param_range_must_be_ordered():
    with pytest.raises(ConfigError, match="handoffs.0"):
        load_config(
            overrides=["handoffs=[{source: cognate, target: evomerge, param_range: [5, 1]}]"]
        )


@pytest.mark.parametrize(
    "rules,key,words",
    [
        ("[{source: cognat, target: evomerge}]", "handoffs.0.source", "unknown phase"),
        ("[{source: cognate, target: bitnet}]", "handoffs.0", "not consecutive"),
        (
            "[{source: cognate, target: evomerge}, {source: cognate, target: evomerge}]",
            "handoffs",
            "second rule",
        ),
    ],
)
def test_handoff_rules_must_name_consecutive_phases(rules, key, words):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[f"handoffs={rules}"])
    assert info.value.key == key and words in str(info.value)


def test_set_profile_selects_the_profile_not_just_the_label():
    cfg = load_config(overrides=["profile=consumer-gpu"])
    assert cfg.profile == "consumer-gpu" and cfg.ray.train.use_gpu is True


def test_unknown_profile_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="unknown profile"):
        load_config("huge")
    with pytest.raises(DataFileError, match="not found"):
        load_config(config_file=tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("run:\n  seed: [1\n")
    with pytest.raises(DataFileError) as info:
        read_yaml_file(bad)
    assert str(bad) in str(info.value) and info.value.line is not None
    bad.write_text("- a list\n")
    with pytest.raises(DataFileError, match="mapping"):
        load_config(config_file=bad)


def test_dump_round_trips(tmp_path):
    cfg = load_config("consumer-gpu", overrides=["run.seed=11"])
    f = tmp_path / "dump.yaml"
    f.write_text(config_to_yaml(cfg))
    again = load_config(config_file=f)
    assert again == cfg and isinstance(again, PipelineConfig)
