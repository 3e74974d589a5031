"""Phase handoff checks (spec §6.2): the models one phase hands on must meet the target's rule.

Rules are config data per profile (`handoffs:` in the profile YAML). A failed check raises
`HandoffError` naming the rule, the value found and the limit.
"""

from __future__ import annotations

from typing import Any

from agent_forge.config.schema import HandoffRuleConfig
from agent_forge.core.contracts import ModelHandle
from agent_forge.errors import HandoffError

_MISSING = object()


def metadata_value(metadata: dict[str, Any], key: str) -> Any:
    """A key from the metadata itself, else from its `metrics` object; `_MISSING` if neither."""
    if key in metadata and metadata[key] is not None:
        return metadata[key]
    metrics = metadata.get("metrics") or {}
    if key in metrics and metrics[key] is not None:
        return metrics[key]
    return _MISSING


def check_handoff(rule: HandoffRuleConfig, models: list[ModelHandle]) -> list[str]:
    """Check every rule; return the list of checks that passed, or raise on the first failure."""
    src, dst = rule.source, rule.target
    passed: list[str] = []
    if rule.num_models is not None:
        if len(models) != rule.num_models:
            raise HandoffError(src, dst, "num_models", len(models), rule.num_models)
        passed.append(f"num_models == {rule.num_models}")
    for m in models:
        if rule.param_range is not None:
            lo, hi = rule.param_range
            if not lo <= m.parameters <= hi:
                raise HandoffError(src, dst, f"param_range ({m.model_id})", m.parameters, [lo, hi])
        for key in rule.required_metadata:
            if metadata_value(m.metadata, key) is _MISSING:
                raise HandoffError(
                    src, dst, f"required_metadata ({m.model_id})", f"'{key}' missing", key
                )
        _check_min(rule, m, "min_fitness", "fitness")
        _check_min(rule, m, "min_accuracy", "accuracy")
        if rule.max_size_mb is not None and m.metadata["size_mb"] > rule.max_size_mb:
            raise HandoffError(
                src, dst, f"max_size_mb ({m.model_id})", m.metadata["size_mb"], rule.max_size_mb
            )
    if rule.param_range is not None:
        passed.append(f"param_range {list(rule.param_range)}")
    if rule.required_metadata:
        passed.append(f"required_metadata {rule.required_metadata}")
    for name in ("min_fitness", "min_accuracy", "max_size_mb"):
        if getattr(rule, name) is not None:
            passed.append(f"{name} {getattr(rule, name)}")
    return passed


def _check_min(rule: HandoffRuleConfig, m: ModelHandle, rule_name: str, key: str) -> None:
    limit = getattr(rule, rule_name)
    if limit is None:
        return
    value = metadata_value(m.metadata, key)
    if value is _MISSING:
        raise HandoffError(rule.source, rule.target, f"{rule_name} ({m.model_id})", None, limit)
    if float(value) < limit:
        raise HandoffError(rule.source, rule.target, f"{rule_name} ({m.model_id})", value, limit)
