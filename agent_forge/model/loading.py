"""Load a saved model folder for a person to talk to: `agent-forge model ID --load` and the
dashboard's Model Browser share this, so both check the hashes and generate the same way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

import agent_forge.model  # noqa: F401  (registers model_type "cognate" with the Auto classes)
from agent_forge.core.storage import verify_weights

Generate = Callable[[str, int], str]


def load_for_generation(
    path: str | Path, sha256: dict[str, str], model_id: str
) -> tuple[dict[str, Any], Generate | None]:
    """Verify the weight hashes, load the folder with transformers, and return a summary plus a
    greedy `generate(prompt, max_new_tokens)` that returns the new tokens only (None when the
    folder has no tokenizer.json; the summary's `generation` says why)."""
    folder = Path(path)
    verify_weights(folder, sha256)
    net = AutoModelForCausalLM.from_pretrained(folder).eval()
    summary: dict[str, Any] = {
        "model_id": model_id,
        "class": type(net).__name__,
        "parameters": sum(p.numel() for p in net.parameters()),
        "dtype": str(next(net.parameters()).dtype),
        "hashes": "verified",
    }
    tok_file = folder / "tokenizer.json"
    if not tok_file.is_file():
        summary["generation"] = "unavailable: this checkpoint has no tokenizer.json"
        return summary, None
    tok = PreTrainedTokenizerFast(tokenizer_file=str(tok_file))

    def generate(text: str, max_new: int) -> str:
        ids = tok(text, return_tensors="pt").input_ids
        with torch.no_grad():
            out = net.generate(ids, max_new_tokens=max_new, do_sample=False)
        return tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)  # new tokens only

    return summary, generate


def _aliases(model: torch.nn.Module) -> dict[str, set[str]]:
    """{state-dict key: keys sharing its storage}: tied weights may be saved under one name."""
    by_ptr: dict[tuple[int, int, tuple[int, ...]], set[str]] = {}
    for name, t in model.state_dict(keep_vars=True).items():
        by_ptr.setdefault((t.data_ptr(), t.numel(), tuple(t.shape)), set()).add(name)
    return {name: group for group in by_ptr.values() for name in group}


def load_strict(
    model: torch.nn.Module, state: dict[str, torch.Tensor], fresh: tuple[str, ...] = ()
) -> None:
    """Copy `state` into `model`'s tensors. Every key must be known, and every missing key must
    be tied to one that is present (a tied head is stored once) or start with a `fresh` prefix
    (a module the caller adds, initialised by the model); else ValueError naming the keys."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    aliases = _aliases(model)
    untied = [
        k
        for k in missing
        if not k.startswith(fresh) and not (aliases.get(k, {k}) - {k}) & state.keys()
    ]
    if unexpected or untied:
        raise ValueError(
            f"state dict does not fit {type(model).__name__}: missing {untied[:5]}, "
            f"unexpected {unexpected[:5]}"
        )


def load_causal_lm(
    path: str | Path,
    sha256: dict[str, str],
    *,
    overrides: dict[str, Any] | None = None,
    fresh: tuple[str, ...] = (),
    drop: tuple[str, ...] = (),
    device: str | torch.device = "cpu",
) -> torch.nn.Module:
    """Any saved HF causal LM, hash-checked and loaded strictly onto `device`.

    The config is the folder's with `overrides` set (e.g. a specialisation's `act_threshold`, or
    `thought_mixing=True`); weights whose names start with a `drop` prefix are not loaded, and
    modules under a `fresh` prefix keep the initialisation the model gave them.
    """
    from transformers import AutoConfig

    from agent_forge.core.storage import load_state_dict

    state = load_state_dict(path, sha256)  # verifies every hash first
    config = AutoConfig.from_pretrained(str(path), **(overrides or {}))
    model = AutoModelForCausalLM.from_config(config)
    load_strict(
        model, {k: v for k, v in state.items() if not k.startswith(drop)} if drop else state, fresh
    )
    return model.to(device)
