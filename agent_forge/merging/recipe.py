"""Merge recipes as mergekit configurations (github.com/arcee-ai/mergekit, `mergekit-yaml`).

One format: a recipe is a mergekit config, so a recipe that uses a method mergekit also has is a
valid mergekit config, and a mergekit config that uses one of our methods is a recipe. Names:
linear, slerp, task_arithmetic, ties, dare_linear (our `dare`), passthrough with one-layer slices
(our `frankenmerge`), and our own `dfs`. What mergekit has no key for (DARE's seed, the DFS path)
lives under `agent_forge:`, which mergekit ignores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from agent_forge.errors import ConfigError

TO_OURS = {
    "linear": "linear",
    "slerp": "slerp",
    "task_arithmetic": "task_arithmetic",
    "ties": "ties",
    "dare_linear": "dare",
    "passthrough": "frankenmerge",
    "dfs": "dfs",
}
TOP_KEYS = (
    "name",
    "merge_method",
    "base_model",
    "models",
    "slices",
    "parameters",
    "dtype",
    "agent_forge",
)


@dataclass
class Recipe:
    """A merge: method (mergekit's name), parent references (registry ids or folders), the base
    for task-vector methods, per-model and shared parameters, and our extensions."""

    merge_method: str
    models: list[str]
    base_model: str | None = None
    model_parameters: list[dict[str, Any]] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    layer_parents: list[int] | None = None  # passthrough: block i from models[layer_parents[i]]
    extensions: dict[str, Any] = field(default_factory=dict)  # seed, dfs path/indicators/scales
    dtype: str | None = None
    name: str | None = None  # mergekit-mega: later documents refer to this result by name

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name} if self.name else {}
        out["merge_method"] = self.merge_method
        if self.merge_method == "passthrough":
            lp = self.layer_parents or []
            out["slices"] = [
                {"sources": [{"model": self.models[p], "layer_range": [i, i + 1]}]}
                for i, p in enumerate(lp)
            ]
        else:
            base = self.models[0] if self.merge_method == "slerp" else self.base_model
            if base is not None:  # mergekit's slerp: base_model is the t = 0 endpoint
                out["base_model"] = base
            out["models"] = [
                {"model": m, **({"parameters": p} if p else {})}
                for m, p in zip(self.models, self._per_model(), strict=True)
            ]
        if self.parameters:
            out["parameters"] = dict(self.parameters)
        if self.dtype:
            out["dtype"] = self.dtype
        if self.extensions:
            out["agent_forge"] = dict(self.extensions)
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def _per_model(self) -> list[dict[str, Any]]:
        return self.model_parameters or [{} for _ in self.models]

    def merge_kwargs(self) -> tuple[str, dict[str, Any]]:
        """(our method name, keyword arguments of `merge_state_dicts`)."""
        ours = TO_OURS[self.merge_method]
        per, shared = self._per_model(), self.parameters
        weights = [p.get("weight") for p in per]
        kw: dict[str, Any] = {}
        if ours in ("linear", "task_arithmetic", "ties", "dare") and any(
            w is not None for w in weights
        ):
            kw["weights"] = [1.0 if w is None else float(w) for w in weights]
        if ours == "linear":
            kw["normalize"] = bool(shared.get("normalize", True))
        elif ours == "slerp":
            kw["t"] = float(shared["t"])
        elif ours == "ties":
            kw |= {"density": _one_density(per), "lam": float(shared.get("lambda", 1.0))}
        elif ours == "dare":
            kw |= {"p": 1.0 - _one_density(per), "seed": int(self.extensions.get("seed", 0))}
        elif ours == "frankenmerge":
            kw["layer_parents"] = list(self.layer_parents or [])
        elif ours == "dfs":
            kw |= {
                k: self.extensions[k]
                for k in ("path", "indicators", "scales")
                if k in self.extensions
            }
        return ours, kw


def _one_density(per: list[dict[str, Any]]) -> float:
    found = {float(p.get("density", 1.0)) for p in per}
    if len(found) != 1:
        raise ConfigError(
            "models[].parameters.density", f"one density for all models, got {sorted(found)}"
        )
    return found.pop()


def _model_ref(entry: Any, where: str) -> str:
    if isinstance(entry, str) and entry:
        return entry
    raise ConfigError(where, f"expected a model id or folder, got {entry!r}")


def _slices(raw: list[Any]) -> tuple[list[str], list[int]]:
    """passthrough slices of one layer each -> (models in order of appearance, parent per layer)."""
    models: list[str] = []
    parents: list[int] = []
    for i, sl in enumerate(raw):
        sources = sl.get("sources") if isinstance(sl, dict) else None
        if not sources or len(sources) != 1:
            raise ConfigError(f"slices[{i}].sources", "expected exactly one source per slice")
        src = sources[0]
        ref = _model_ref(src.get("model"), f"slices[{i}].sources[0].model")
        lo, hi = src.get("layer_range", [None, None])
        if lo != len(parents) or hi != lo + 1:
            raise ConfigError(
                f"slices[{i}].sources[0].layer_range",
                f"expected [{len(parents)}, {len(parents) + 1}]: frankenmerge keeps each block in "
                "place (one layer per slice, in order); a deeper stack is a dfs recipe",
            )
        if ref not in models:
            models.append(ref)
        parents.append(models.index(ref))
    return models, parents


def parse_recipe(data: Any) -> Recipe:
    """A Recipe from a parsed YAML mapping; ConfigError naming the key for anything else."""
    if not isinstance(data, dict):
        raise ConfigError("<root>", "a recipe is a mapping (mergekit config format)")
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(str(key), f"unsupported key (supported: {', '.join(TOP_KEYS)})")
    method = data.get("merge_method")
    if method not in TO_OURS:
        raise ConfigError("merge_method", f"{method!r} is not one of {', '.join(TO_OURS)}")
    ext = data.get("agent_forge") or {}
    params = data.get("parameters") or {}
    if not isinstance(ext, dict) or not isinstance(params, dict):
        raise ConfigError("parameters", "parameters and agent_forge must be mappings")
    name = data.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigError("name", f"expected a non-empty string, got {name!r}")
    if method == "passthrough":
        models, parents = _slices(data.get("slices") or [])
        return Recipe(method, models, None, [], params, parents, ext, data.get("dtype"), name)
    entries = data.get("models") or []
    if not isinstance(entries, list) or not entries:
        raise ConfigError("models", "a non-empty list of {model: ..., parameters: {...}}")
    models = [
        _model_ref(e.get("model") if isinstance(e, dict) else None, f"models[{i}].model")
        for i, e in enumerate(entries)
    ]
    per = [dict(e.get("parameters") or {}) for e in entries]
    base = data.get("base_model")
    if method == "slerp":  # mergekit: base_model is the t = 0 endpoint and is one of the two
        if base is not None and base in models:
            i = models.index(base)
            models, per = (
                [models[i], *models[:i], *models[i + 1 :]],
                [per[i], *per[:i], *per[i + 1 :]],
            )
        base = None
        if "t" not in params:
            raise ConfigError("parameters.t", "slerp needs the interpolation factor t")
    return Recipe(method, models, base, per, params, None, ext, data.get("dtype"), name)


def load_recipe(text: str) -> Recipe:
    recipes = load_recipes(text)
    if len(recipes) != 1:
        raise ConfigError("<yaml>", f"expected one recipe document, got {len(recipes)}")
    return recipes[0]


def load_recipes(text: str) -> list[Recipe]:
    """One or more YAML documents (mergekit-mega's format: each but the last has a `name`,
    which later documents use as a model reference); the last one is the result."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ConfigError("<yaml>", f"not valid YAML: {exc}") from exc
    if not docs:
        raise ConfigError("<yaml>", "no recipe in the file")
    recipes = []
    for i, d in enumerate(docs):
        try:
            recipes.append(parse_recipe(d))
        except ConfigError as exc:
            if len(docs) == 1:
                raise
            message = str(exc).split(": ", 1)[-1]
            raise ConfigError(f"document {i + 1}: {exc.key}", message) from exc
    for i, r in enumerate(recipes[:-1]):
        if not r.name:
            raise ConfigError(f"document {i + 1}: name", "every document but the last needs a name")
    return recipes


def to_yaml_documents(recipes: list[Recipe]) -> str:
    return "---\n".join(r.to_yaml() for r in recipes)
