"""The dependency direction of ARCHITECTURE.md §2, checked by parsing imports.

Libraries (model, data, eval, training, merging, quant) import no Ray, W&B, registry, runtime or
phases; core imports nothing above it; nothing imports cli or dashboard.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "agent_forge"
LIBRARIES = ("model", "data", "eval", "training", "merging", "quant")
LIB_FORBIDDEN = (
    "ray",
    "wandb",
    "agent_forge.runtime",
    "agent_forge.phases",
    "agent_forge.core.registry",
    "agent_forge.pipeline",
    "agent_forge.cli",
    "agent_forge.dashboard",
)
CORE_FORBIDDEN = (
    "ray",
    "agent_forge.runtime",
    "agent_forge.phases",
    "agent_forge.pipeline",
    "agent_forge.cli",
    "agent_forge.dashboard",
    *(f"agent_forge.{x}" for x in LIBRARIES),
)


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def offending(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for f in files:
        for name in imports(f):
            if any(name == x or name.startswith(x + ".") for x in forbidden):
                bad.append(f"{f.relative_to(PKG)} imports {name}")
    return bad


@pytest.mark.parametrize("lib", LIBRARIES)
def test_libraries_stay_plain(lib):
    assert offending(sorted((PKG / lib).rglob("*.py")), LIB_FORBIDDEN) == []


def test_core_imports_nothing_above_it():
    assert offending(sorted((PKG / "core").rglob("*.py")), CORE_FORBIDDEN) == []


def test_nothing_imports_cli_or_dashboard():
    files = [f for f in PKG.rglob("*.py") if f.parts[len(PKG.parts)] not in ("cli", "dashboard")]
    assert offending(files, ("agent_forge.cli", "agent_forge.dashboard")) == []


def test_the_checker_catches_a_violation(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("import ray\nfrom agent_forge.runtime import object_store\n")
    assert set(imports(f)) == {"ray", "agent_forge.runtime"}
