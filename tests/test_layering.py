"""The dependency direction of ARCHITECTURE.md §2, checked by parsing imports.

Libraries (model, data, eval, training, merging, quant) import no Ray, W&B, registry, runtime or
phases; core imports nothing above it; config only itself and `agent_forge.errors`, which imports
nothing of ours; phases never import each other; only runtime/ imports ray; nothing imports cli.
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
CORE_ALLOWED = ("agent_forge.core", "agent_forge.config", "agent_forge.errors")
CONFIG_ALLOWED = ("agent_forge.config", "agent_forge.errors")


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == x or name.startswith(x + ".") for x in prefixes)


def _package(path: Path) -> list[str]:
    """The dotted package a file sits in, from the folder named agent_forge down."""
    parts = path.resolve().parent.parts
    return list(parts[len(parts) - parts[::-1].index("agent_forge") - 1 :])


def _rel(path: Path) -> str:
    return "/".join([*_package(path)[1:], path.name])


def imports(path: Path) -> set[str]:
    """Every module a file imports; `from m import x` also gives m.x (x may be a module), and a
    relative import is resolved against the file's package."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = _package(path)[: len(_package(path)) - node.level + 1]
                base = ".".join([*pkg, *([node.module] if node.module else [])])
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names if a.name != "*")
    return names


def offending(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for f in files:
        for name in sorted(imports(f)):
            if _under(name, forbidden):
                bad.append(f"{_rel(f)} imports {name}")
    return bad


def outside(files: list[Path], allowed: tuple[str, ...]) -> list[str]:
    """Imports of agent_forge.* that are not under `allowed`."""
    return [
        f"{_rel(f)} imports {name}"
        for f in files
        for name in sorted(imports(f))
        if name.startswith("agent_forge.") and not _under(name, allowed)
    ]


def _phase(name: str) -> str:
    return name  # a phase is a package phases/<name>/ (or a module phases/<name>.py)


def phase_violations(pkg: Path) -> list[str]:
    """A module of phase X importing a module of phase Y != X (the table __init__ is no phase)."""
    bad = []
    for f in sorted((pkg / "phases").rglob("*.py")):
        rel = f.relative_to(pkg / "phases").parts
        if rel == ("__init__.py",):
            continue
        own = _phase(rel[0].removesuffix(".py"))
        for name in imports(f):
            parts = name.split(".")
            if parts[:2] == ["agent_forge", "phases"] and len(parts) > 2:
                if _phase(parts[2]) != own:
                    bad.append(f"phase {own}: {'/'.join(rel)} imports {name}")
    return bad


def ray_violations(pkg: Path) -> list[str]:
    files = [f for f in sorted(pkg.rglob("*.py")) if f.relative_to(pkg).parts[0] != "runtime"]
    return offending(files, ("ray",))


@pytest.mark.parametrize("lib", LIBRARIES)
def test_libraries_stay_plain(lib):
    assert offending(sorted((PKG / lib).rglob("*.py")), LIB_FORBIDDEN) == []


def test_core_imports_nothing_above_it():
    files = sorted((PKG / "core").rglob("*.py"))
    assert offending(files, CORE_FORBIDDEN) == []
    assert outside(files, CORE_ALLOWED) == []  # core -> config is the one way down


def test_config_imports_only_itself_and_errors():
    assert outside(sorted((PKG / "config").rglob("*.py")), CONFIG_ALLOWED) == []


def test_errors_import_nothing_of_ours():
    assert outside([PKG / "errors.py"], ()) == []


def test_phases_import_no_other_phase():
    assert phase_violations(PKG) == []


def test_only_runtime_imports_ray():
    assert ray_violations(PKG) == []


def test_nothing_imports_cli_or_dashboard():
    files = [f for f in PKG.rglob("*.py") if f.parts[len(PKG.parts)] not in ("cli", "dashboard")]
    assert offending(files, ("agent_forge.cli", "agent_forge.dashboard")) == []


def _tree(root: Path, files: dict[str, str]) -> Path:
    pkg = root / "agent_forge"
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    return pkg


def test_the_checker_catches_a_violation(tmp_path):
    pkg = _tree(
        tmp_path, {"model/x.py": "import ray\nfrom agent_forge.runtime import object_store\n"}
    )
    f = pkg / "model" / "x.py"
    assert imports(f) == {"ray", "agent_forge.runtime", "agent_forge.runtime.object_store"}
    assert offending([f], LIB_FORBIDDEN) == [
        "model/x.py imports agent_forge.runtime",
        "model/x.py imports agent_forge.runtime.object_store",
        "model/x.py imports ray",
    ]


def test_the_checker_catches_a_phase_importing_another(tmp_path):
    pkg = _tree(
        tmp_path,
        {
            "phases/__init__.py": "from agent_forge.phases import bitnet\n",
            "phases/bitnet/phase.py": "from agent_forge.phases.bitnet import report\n",
            "phases/bitnet/report.py": "from ..evomerge import scoring\n",
            "phases/cognate/phase.py": "from agent_forge.phases.cognate.jobs import x\n",
            "phases/cognate/jobs.py": "from agent_forge.phases import quietstar\n",
        },
    )
    assert sorted(phase_violations(pkg)) == [
        "phase bitnet: bitnet/report.py imports agent_forge.phases.evomerge",
        "phase bitnet: bitnet/report.py imports agent_forge.phases.evomerge.scoring",
        "phase cognate: cognate/jobs.py imports agent_forge.phases.quietstar",
    ]


def test_the_checker_catches_ray_outside_runtime(tmp_path):
    pkg = _tree(
        tmp_path,
        {
            "runtime/ray_runtime.py": "import ray\n",
            "cli/system_checks.py": "def f():\n    import ray.train\n",
            "phases/evomerge/scoring.py": "from ray import tune\n",
        },
    )
    assert sorted(ray_violations(pkg)) == [
        "cli/system_checks.py imports ray.train",
        "phases/evomerge/scoring.py imports ray",
        "phases/evomerge/scoring.py imports ray.tune",
    ]


def test_the_checker_catches_config_or_errors_reaching_up(tmp_path):
    ok = "from agent_forge.errors import ConfigError\nfrom agent_forge.config.schema import X\n"
    pkg = _tree(
        tmp_path,
        {
            "config/loader.py": ok,
            "config/bad.py": "from agent_forge.core.errors import ConfigError\n",
            "core/home.py": ok + "from agent_forge.core import storage\n",
            "core/bad.py": "from agent_forge.model import x\n",
            "errors.py": "from agent_forge import config\n",
        },
    )
    assert outside(sorted((pkg / "config").rglob("*.py")), CONFIG_ALLOWED) == [
        "config/bad.py imports agent_forge.core.errors",
        "config/bad.py imports agent_forge.core.errors.ConfigError",
    ]
    core = sorted((pkg / "core").rglob("*.py"))
    assert outside(core, CORE_ALLOWED) == offending(core, CORE_FORBIDDEN)
    assert outside(core, CORE_ALLOWED) == [
        "core/bad.py imports agent_forge.model",
        "core/bad.py imports agent_forge.model.x",
    ]
    assert outside([pkg / "errors.py"], ()) == ["errors.py imports agent_forge.config"]


def test_phase_modules_are_short_and_unpacked():
    """STYLE: a phase module is a recipe, at most 300 lines as `ruff format` writes it (line
    length 100), with no `# fmt: skip` packing lines to stay under."""
    too_long, packed = [], []
    for f in sorted((PKG / "phases").rglob("*.py")):
        text = f.read_text(encoding="utf-8")
        if len(text.splitlines()) > 300:
            too_long.append(f"{_rel(f)}: {len(text.splitlines())} lines")
        if "fmt: skip" in text:
            packed.append(_rel(f))
    assert too_long == [] and packed == []
