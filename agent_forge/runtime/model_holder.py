"""A Ray actor that keeps one model resident on its device and swaps weights in place.

EvoMerge and the NSGA-II search build the module once per device (`load`), then per candidate
only copy new weights into it (`load_state`) and evaluate (`apply`), so no trial rebuilds a
model or touches disk (docs/ARCHITECTURE.md §4).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
import torch
from torch import nn

from agent_forge.model.loading import load_strict
from agent_forge.runtime.object_store import as_state_dict, put_state_dict

log = logging.getLogger(__name__)


def load_weights(model: nn.Module, sd: dict[str, torch.Tensor]) -> None:
    """Copy `sd` into `model`'s tensors, strictly (a tied head may be stored once):
    `model.loading.load_strict`, the one strict load."""
    load_strict(model, sd)


class LocalModelHolder:
    """The holder's behaviour, usable in-process; `ModelHolder` is the same class as an actor."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = torch.device(device)
        self.model: nn.Module | None = None

    def _require_model(self) -> nn.Module:
        if self.model is None:
            raise RuntimeError("ModelHolder has no model; call load() first")
        return self.model

    def load(
        self,
        factory: Callable[[], nn.Module] | None,
        state: Any,
    ) -> int:
        """Build the resident model. `state` is a checkpoint folder (str / Path: loaded with
        `AutoModelForCausalLM.from_pretrained`, `factory` unused), or weights for `factory()`:
        an ObjectRef from `put_state_dict`, the `PackedStateDict` Ray resolved it to, or a dict
        of tensors. Returns the parameter count."""
        if isinstance(state, str | Path):
            from transformers import AutoModelForCausalLM

            model = AutoModelForCausalLM.from_pretrained(str(state))
        else:
            if factory is None:
                raise ValueError("load() needs a factory unless state is a checkpoint folder")
            model = factory()
            load_weights(model, as_state_dict(state))
        self.model = model.to(self.device).eval()
        n = sum(p.numel() for p in self.model.parameters())
        log.info("holder on %s loaded %d parameters", self.device, n)
        return n

    def load_state(self, state: Any) -> None:
        """Copy new weights (ref, PackedStateDict or tensor dict) into the resident model."""
        load_weights(self._require_model(), as_state_dict(state))

    def apply(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`fn(model, *args, **kwargs)` under `torch.no_grad()`; the model is in eval mode."""
        model = self._require_model()
        with torch.no_grad():
            return fn(model, *args, **kwargs)

    def state_ref(self) -> ray.ObjectRef:
        """The current weights in the object store. The holder owns the object: it is lost
        if the holder dies, so save anything to keep to disk."""
        return put_state_dict(self._require_model().state_dict())

    def info(self) -> dict[str, Any]:
        model = self.model
        node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
        return {
            "device": str(self.device),
            "parameters": sum(p.numel() for p in model.parameters()) if model else 0,
            "node_id": node,
            "pid": os.getpid(),
        }


ModelHolder = ray.remote(LocalModelHolder)


def make_holder(
    num_cpus: float = 1, num_gpus: float = 0, device: str | None = None, **opts: Any
) -> ray.actor.ActorHandle:
    """Start a `ModelHolder` actor with these resources; `device` defaults to "cuda" when it
    has a GPU. `opts` go to `.options()` (e.g. `name`, `scheduling_strategy`)."""
    device = device or ("cuda" if num_gpus > 0 else "cpu")
    return ModelHolder.options(num_cpus=num_cpus, num_gpus=num_gpus, **opts).remote(device)
