"""Handoff rules (spec §6.2) on real metadata dicts: each rule's failure names rule, value,
limit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_forge.config.schema import HandoffRuleConfig
from agent_forge.core.contracts import ModelHandle
from agent_forge.core.handoff import check_handoff
from agent_forge.errors import HandoffError


def handle(i: int, **md) -> ModelHandle:
    base = {
        "model_id": f"cognate_m{i}_20261128_000000",
        "parameters": 2_000_000,
        "size_mb": 8.0,
        "metrics": {},
    }
    base.update(md)
    return ModelHandle(base["model_id"], Path("/nowhere"), base)


def rule(**kw) -> HandoffRuleConfig:
    return HandoffRuleConfig(source="cognate", target="evomerge", **kw)


def test_all_rules_pass_and_are_listed():
    models = [
        handle(i, specialization="reasoning", fitness=0.5, metrics={"accuracy": 0.9})
        for i in range(3)
    ]
    passed = check_handoff(
        rule(
            num_models=3,
            param_range=(1, 3_000_000),
            required_metadata=["specialization", "accuracy"],
            min_fitness=0.4,
            min_accuracy=0.8,
            max_size_mb=10,
        ),
        models,
    )
    assert len(passed) == 6


@pytest.mark.parametrize(
    "kw,md,name,value,limit",
    [
        ({"num_models": 2}, {}, "num_models", 3, 2),
        ({"param_range": (10, 20)}, {}, "param_range", 2_000_000, [10, 20]),
        ({"required_metadata": ["seed"]}, {}, "required_metadata", "'seed' missing", "seed"),
        ({"min_fitness": 0.9}, {"fitness": 0.5}, "min_fitness", 0.5, 0.9),
        ({"min_fitness": 0.9}, {}, "min_fitness", None, 0.9),
        ({"min_accuracy": 0.9}, {"metrics": {"accuracy": 0.2}}, "min_accuracy", 0.2, 0.9),
        ({"max_size_mb": 1.0}, {}, "max_size_mb", 8.0, 1.0),
    ],
)
def test_each_rule_fails_naming_rule_value_and_limit(kw, md, name, value, limit):
    with pytest.raises(HandoffError) as info:
        check_handoff(rule(**kw), [handle(i, **md) for i in range(3)])
    err = info.value
    assert err.rule.startswith(name) and err.value == value and err.limit == limit
    assert name in str(err) and "cognate -> evomerge" in str(err)


def test_none_metadata_value_counts_as_missing():
    with pytest.raises(HandoffError, match="specialization"):
        check_handoff(rule(required_metadata=["specialization"]), [handle(0, specialization=None)])
