"""The Configuration page's plain parts: one widget spec per field of `PipelineConfig` (from the
pydantic field info), widget values -> the full config dict, validation with the CLI's models,
and the atomic save of `<home>/config.yaml` (only the keys that differ from the profile).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from agent_forge.config.loader import apply_override, user_config_text
from agent_forge.config.schema import PipelineConfig
from agent_forge.core.storage import atomic_write_text

SAVE_HEADER = "# Saved by the Agent Forge dashboard: only the keys that differ from the profile.\n"
SECTIONS = ("run", "ray", "registry", "metrics", "monitor", "eval", "handoffs")


@dataclass(frozen=True)
class FieldSpec:
    key: str  # dotted, e.g. "phases.cognate.steps"
    kind: str  # checkbox | select | text | yaml
    help: str | None = None
    options: tuple[Any, ...] = ()
    optional: bool = False  # None allowed: an empty text box means None


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else annotation), True
    return annotation, False


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def field_specs(model: type[BaseModel], prefix: str) -> list[FieldSpec]:
    """Widget specs of every leaf field of `model`, nested models flattened into dotted keys."""
    specs: list[FieldSpec] = []
    for name, info in model.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        inner, optional = _unwrap_optional(info.annotation)
        if _is_model(inner) and not optional:
            specs.extend(field_specs(inner, key))
            continue
        if inner is bool and not optional:
            kind, options = "checkbox", ()
        elif typing.get_origin(inner) is Literal:
            kind, options = "select", (*((None,) if optional else ()), *typing.get_args(inner))
        elif inner in (int, float, str):
            kind, options = "text", ()
        else:  # lists, dicts, tuples, lists of models (specializations, handoffs)
            kind, options = "yaml", ()
        specs.append(FieldSpec(key, kind, info.description, options, optional))
    return specs


def section_specs(section: str) -> list[FieldSpec]:
    """Specs of one tab: a top-level section (`run`, ...) or a phase (`phases.cognate`)."""
    if section == "handoffs":
        return [FieldSpec("handoffs", "yaml", "Spec §6.2 rules checked between phases.")]
    model: Any = PipelineConfig
    for part in section.split("."):
        model = model.model_fields[part].annotation
    return field_specs(model, section)


def lookup(data: dict[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        node = node[part]
    return node


def to_widget_value(spec: FieldSpec, value: Any) -> Any:
    """The widget's initial value for a config value (json-mode dump)."""
    if spec.kind == "yaml":
        return yaml.safe_dump(value, sort_keys=False, default_flow_style=None).strip()
    if spec.kind == "text":
        return "" if value is None else str(value)
    return value


def from_widget_value(spec: FieldSpec, raw: Any) -> Any:
    """A widget's value -> the config value handed to pydantic (which parses and checks it).
    Raises ValueError for YAML that does not parse."""
    if spec.kind == "yaml":
        try:
            return yaml.safe_load(raw) if str(raw).strip() else None
        except yaml.YAMLError as exc:
            raise ValueError(f"invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if spec.kind == "text":
        text = str(raw).strip()
        return None if (spec.optional and text == "") else text
    return raw


def apply_values(base: dict[str, Any], values: dict[str, Any], specs: list[FieldSpec]) -> tuple:
    """(config dict with the widget values laid over `base`, {key: YAML error})."""
    data = yaml.safe_load(yaml.safe_dump(base))  # a deep copy
    errors: dict[str, list[str]] = {}
    for spec in specs:
        if spec.key not in values:
            continue
        try:
            apply_override(data, spec.key.split("."), from_widget_value(spec, values[spec.key]))
        except ValueError as exc:
            errors.setdefault(spec.key, []).append(f"{spec.key}: {exc}")
    return data, errors


def error_messages(exc: ValidationError) -> list[tuple[str, str]]:
    """Every error as (dotted key, "dotted.key: message")."""
    out = []
    for e in exc.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        out.append((key, f"{key}: {msg.removeprefix('Value error, ')}"))
    return out


def place_errors(errors: list[tuple[str, str]], widget_keys: list[str]) -> dict[str, list[str]]:
    """Each error under the widget whose key is the longest prefix of the error's key (a list
    item's error goes under its YAML box); a section-level error goes under the section name."""
    placed: dict[str, list[str]] = {}
    for key, text in errors:
        owner = max(
            (w for w in widget_keys if key == w or key.startswith(w + ".")), key=len, default=None
        )
        if owner is None:  # a model-level validator: loc is the section, e.g. phases.cognate
            owner = key
        placed.setdefault(owner, []).append(text)
    return placed


def validate_and_save(home_root: Path, data: dict[str, Any]) -> tuple[PipelineConfig | None, list]:
    """Validate `data` with `PipelineConfig`; when valid, write `<home>/config.yaml` atomically
    (the home is created if needed) and return (cfg, []); else (None, errors), nothing written."""
    try:
        cfg = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        return None, error_messages(exc)
    text = user_config_text(cfg, SAVE_HEADER)
    home_root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(home_root / "config.yaml", text)
    return cfg, []
