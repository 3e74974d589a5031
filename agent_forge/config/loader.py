"""Build the effective config: defaults < ray_configs/<profile>.yaml < profile < --config < --set.

Every failure is a `ConfigError` naming the dotted key path (or the file), so the CLI exits 2.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agent_forge.config.schema import PipelineConfig
from agent_forge.errors import ConfigError, DataFileError

DEFAULT_PROFILE = "tiny"
# The repository's top-level ray_configs/ (the project is installed editable: `pip install -e .`).
RAY_CONFIGS_DIR = Path(__file__).resolve().parents[2] / "ray_configs"


def profile_names() -> list[str]:
    root = resources.files("agent_forge.config") / "profiles"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def _read_yaml_text(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise DataFileError(source, f"invalid YAML: {getattr(exc, 'problem', exc)}", line) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DataFileError(source, f"expected a mapping at the top, got {type(data).__name__}")
    return data


def read_yaml_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise DataFileError(str(path), "config file not found")
    return _read_yaml_text(path.read_text(encoding="utf-8"), str(path))


def _profile_data(profile: str) -> dict[str, Any]:
    names = profile_names()
    if profile not in names:
        raise ConfigError("profile", f"unknown profile {profile!r}; choose one of {names}")
    text = (resources.files("agent_forge.config") / "profiles" / f"{profile}.yaml").read_text()
    return _read_yaml_text(text, f"profiles/{profile}.yaml")


def _ray_config_data(profile: str) -> dict[str, Any]:
    """Ray Train scaling and Tune resources per profile, from the top-level ray_configs/ folder."""
    path = RAY_CONFIGS_DIR / f"{profile}.yaml"
    if not path.is_file():
        return {}
    return _read_yaml_text(path.read_text(encoding="utf-8"), str(path))


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; `over` wins. Lists are replaced, not concatenated."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(item: str) -> tuple[list[str], Any]:
    """`a.b=c` -> (["a", "b"], yaml value of c)."""
    if "=" not in item:
        raise ConfigError(item, "--set expects KEY=VALUE, e.g. --set run.seed=7")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(key or item, "empty key in --set")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_override(data: dict[str, Any], path: list[str], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(".".join(path), f"'{part}' is not a section")
        node = child
    node[path[-1]] = value


def _loc_to_key(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "<root>"


def validate_data(data: dict[str, Any]) -> PipelineConfig:
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = _loc_to_key(first["loc"])
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        else:
            got = first.get("input")
            shown = f" (got {got!r})" if not isinstance(got, dict | list) else ""
            msg = f"{first['msg'].removeprefix('Value error, ')}{shown}"
        more = len(exc.errors()) - 1
        if more:
            msg += f"; and {more} more error(s): " + ", ".join(
                _loc_to_key(e["loc"]) for e in exc.errors()[1:4]
            )
        raise ConfigError(key, msg) from None


def load_config(
    profile: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> PipelineConfig:
    """The effective config. A `profile:` key in the file picks the base profile if none is
    given."""
    file_data = read_yaml_file(config_file) if config_file else {}
    parsed = [parse_override(item) for item in overrides]
    set_profile = [value for path, value in parsed if path == ["profile"]]
    profile = (set_profile[-1] if set_profile else None) or profile
    profile = profile or file_data.get("profile") or DEFAULT_PROFILE
    if not isinstance(profile, str):
        raise ConfigError("profile", f"expected a profile name, got {profile!r}")
    ray_data = _ray_config_data(profile)
    data = {"ray": ray_data} if ray_data else {}
    data = deep_merge(data, _profile_data(profile))
    data = deep_merge(data, file_data)
    data["profile"] = profile
    for path, value in parsed:
        if path != ["profile"]:
            apply_override(data, path, value)
    return validate_data(data)


def config_to_yaml(cfg: PipelineConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


USER_CONFIG_NAME = "config.yaml"  # `config --edit` and the dashboard save here; `run` reads it


def load_home_config(
    home_root: str | Path,
    profile: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> PipelineConfig:
    """The effective config of a home: `config_file`, else `<home>/config.yaml` when it exists,
    laid over the profile, then `overrides`."""
    user_file = Path(home_root) / USER_CONFIG_NAME
    if config_file is None and user_file.is_file():
        config_file = user_file
    return load_config(profile=profile, config_file=config_file, overrides=list(overrides))


def changed_keys(data: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The parts of `data` that differ from `base` (recursively for mappings)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            sub = changed_keys(value, base[key])
            if sub:
                out[key] = sub
        elif key not in base or base[key] != value:
            out[key] = value
    return out


def user_config_text(cfg: PipelineConfig, header: str) -> str:
    """What `<home>/config.yaml` holds for `cfg`: `profile:` and only the keys that differ from
    that profile, so a later `--profile` still changes everything the user did not set."""
    base = load_config(cfg.profile).model_dump(mode="json")
    changes = changed_keys(cfg.model_dump(mode="json"), base)
    changes.pop("profile", None)
    return header + yaml.safe_dump({"profile": cfg.profile, **changes}, sort_keys=False)
