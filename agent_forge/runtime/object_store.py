"""Model weights through Ray's object store as numpy arrays: zero-copy for readers on one node.

Ray stores numpy arrays out of band (pickle protocol 5) and `ray.get` on the same node returns
read-only arrays that map the shared-memory store directly. Torch dtypes numpy lacks (bfloat16,
float8) travel as an unsigned-integer view of the same width, with their dtype recorded.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from agent_forge.core import storage

if TYPE_CHECKING:
    import ray

    from agent_forge.core.contracts import ModelHandle

# Same-width unsigned view for dtypes without a numpy equivalent.
_UINT_OF_WIDTH = {1: torch.uint8, 2: torch.uint16, 4: torch.uint32, 8: torch.uint64}


@dataclass(frozen=True)
class PackedStateDict:
    """A state dict as numpy arrays. `dtypes[name]` is the torch dtype name (e.g. "bfloat16")
    of each array stored as an integer view; arrays with a numpy dtype have no entry."""

    arrays: dict[str, np.ndarray]
    dtypes: dict[str, str] = field(default_factory=dict)

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())


def _to_numpy(t: torch.Tensor) -> tuple[np.ndarray, str | None]:
    t = t.detach().to("cpu").contiguous()
    try:
        return t.numpy(), None
    except TypeError:  # bfloat16, float8_*: "Got unsupported ScalarType"
        view = _UINT_OF_WIDTH[t.element_size()]
        return t.view(view).numpy(), str(t.dtype).removeprefix("torch.")


def state_dict_to_numpy(sd: dict[str, torch.Tensor]) -> PackedStateDict:
    """CPU, contiguous numpy arrays of `sd`; tied tensors are stored once per name.

    The arrays share memory with CPU-contiguous input tensors; `ray.put` copies them.
    """
    arrays: dict[str, np.ndarray] = {}
    dtypes: dict[str, str] = {}
    for name, tensor in sd.items():
        arrays[name], torch_dtype = _to_numpy(tensor)
        if torch_dtype is not None:
            dtypes[name] = torch_dtype
    return PackedStateDict(arrays=arrays, dtypes=dtypes)


def numpy_to_state_dict(packed: PackedStateDict, copy: bool = False) -> dict[str, torch.Tensor]:
    """Tensors over the arrays of `packed`, restoring recorded dtypes.

    With `copy=False` no bytes move: tensors from a zero-copy `ray.get` view read-only shared
    memory, so they must not be modified in place (load them into a module with
    `load_state_dict`, which copies). `copy=True` returns independent, writable tensors.
    """
    out: dict[str, torch.Tensor] = {}
    with warnings.catch_warnings():
        # torch warns that the array is read-only; the docstring's contract covers it
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        for name, array in packed.arrays.items():
            tensor = torch.from_numpy(np.array(array) if copy else array)
            if name in packed.dtypes:
                tensor = tensor.view(getattr(torch, packed.dtypes[name]))
            out[name] = tensor
    return out


def put_state_dict(sd: dict[str, torch.Tensor]) -> ray.ObjectRef:
    """Put `sd` in the object store once; pass the ref to tasks and actors."""
    import ray

    return ray.put(state_dict_to_numpy(sd))


def get_state_dict(ref: ray.ObjectRef, copy: bool = False) -> dict[str, torch.Tensor]:
    """The state dict behind `ref` (zero-copy and read-only unless `copy`)."""
    import ray

    return numpy_to_state_dict(ray.get(ref), copy=copy)


def as_state_dict(state: Any, copy: bool = False) -> dict[str, torch.Tensor]:
    """A state dict from a ref (bare or as `[ref]`: Ray resolves only top-level arguments),
    a `PackedStateDict` (Ray resolved the ref) or a dict of tensors."""
    import ray

    if isinstance(state, list | tuple) and len(state) == 1:
        state = state[0]
    if isinstance(state, ray.ObjectRef):
        state = ray.get(state)
    if isinstance(state, PackedStateDict):
        return numpy_to_state_dict(state, copy=copy)
    if isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values()):
        return {k: v.clone() for k, v in state.items()} if copy else state
    raise TypeError(
        f"expected an ObjectRef, PackedStateDict or dict of tensors, got {type(state).__name__}"
    )


def fetch_state_dict(handle: ModelHandle) -> dict[str, torch.Tensor]:
    """Weights of `handle`: from its object-store ref if it has one (read-only, zero-copy),
    else from its checkpoint folder, verified against metadata["sha256"] (IntegrityError)."""
    if handle.object_ref is not None:
        return get_state_dict(handle.object_ref)
    return storage.load_state_dict(handle.path, handle.metadata["sha256"])
