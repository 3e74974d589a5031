"""How tasks become language-model text: one format for training and for scoring, so a prompt
scored at test time looks exactly like the training examples up to the answer."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch

from agent_forge.data.tasks import Example

# No trailing space: byte-level BPE glues the space to the next word ("Ġ9"), so a prompt ending
# in " " would put a lone "Ġ" token where training text never has one (measured: the model then
# answered with an empty string every time).
ANSWER_PREFIX = "\nAnswer:"


def format_prompt(example: Example) -> str:
    """What the model sees at test time; the answer follows it."""
    return f"Question: {example.prompt}{ANSWER_PREFIX}"


def format_example(example: Example) -> str:
    """A training document: the prompt, the answer, and a newline that ends the answer."""
    return f"{format_prompt(example)} {example.answer}\n"


def encode_documents(tokenizer: Any, docs: Sequence[str], seed: int) -> torch.Tensor:
    """Shuffle `docs` by `seed`, tokenize each, join them with <eos>: one 1-D token stream."""
    docs = list(docs)
    random.Random(seed).shuffle(docs)
    ids: list[int] = []
    for doc_ids in tokenizer(docs, add_special_tokens=False).input_ids:
        ids.extend(doc_ids)
        ids.append(tokenizer.eos_token_id)
    return torch.tensor(ids, dtype=torch.long)
