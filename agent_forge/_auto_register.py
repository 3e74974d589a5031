"""Make `import agent_forge` register the Cognate model with transformers' Auto classes, lazily.

Importing transformers and torch costs ~4 s, which every CLI call would pay. Instead, if
transformers is already imported we register now; otherwise a one-shot import hook registers
right after transformers itself is first imported. Either way, once `agent_forge` is imported,
`AutoModelForCausalLM.from_pretrained(dir)` knows `model_type: cognate`.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any


def _register() -> None:
    if "agent_forge.model" in sys.modules:
        return  # imported (or being imported): its __init__ registers the classes itself
    from agent_forge.model import register_auto_classes

    register_auto_classes()


class _RegisterAfter(importlib.abc.Loader):
    def __init__(self, inner: Any):
        self.inner = inner

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        _register()


class _TransformersHook(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> ModuleSpec | None:
        if fullname != "transformers":
            return None
        sys.meta_path.remove(self)  # one shot; find the real spec without us in the way
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisterAfter(spec.loader)
        return spec


def install() -> None:
    if "transformers" in sys.modules:
        _register()
    elif not any(isinstance(f, _TransformersHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _TransformersHook())
