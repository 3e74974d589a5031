"""A training run's resumable state as one flat tensor dict (what `Reporter.report` checkpoints):
the model's tensors under "model.<name>", and the optimiser's (and any other stateful helper's)
`state_dict()`s torch.save'd into one uint8 tensor. Shared by every training loop here (the LM
loop, Quiet-STaR, BitNet QAT) so their checkpoints have one format."""

from __future__ import annotations

import io
from typing import Any

import torch
from torch import nn

from agent_forge.model.loading import load_strict

BLOB = "__optimizer_state__"  # the optimiser (and helpers) state, torch.save'd into uint8


def model_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's own tensors out of a checkpoint state written by `pack_state`."""
    return {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}


def pack_state(model: nn.Module, **stateful: Any) -> dict[str, torch.Tensor]:
    """model tensors (cloned) + BLOB: {name: obj.state_dict() or None} of `stateful`."""
    buf = io.BytesIO()
    torch.save({k: v.state_dict() if v is not None else None for k, v in stateful.items()}, buf)
    state = {f"model.{k}": v.detach().clone() for k, v in model.state_dict().items()}
    state[BLOB] = torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)
    return state


def unpack_state(model: nn.Module, state: dict[str, torch.Tensor], **stateful: Any) -> None:
    """Load what `pack_state` wrote back into `model` and each object of `stateful` (by name;
    an object given as None, or saved as None, is skipped)."""
    load_strict(model, model_weights(state))  # a tied head may be stored once
    blob = torch.load(io.BytesIO(state[BLOB].numpy().tobytes()), weights_only=False)
    for name, obj in stateful.items():
        if obj is not None and blob.get(name) is not None:
            obj.load_state_dict(blob[name])
