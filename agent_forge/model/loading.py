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
