"""Byte-level BPE tokenizer (GPT-2 style, Radford et al. 2019) trained locally with `tokenizers`.

Special tokens are reserved from the start so later phases (Quiet-STaR thoughts, tool calls) never
resize the embedding. Training is deterministic: the same texts give a byte-identical
tokenizer.json.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # transformers costs ~1 s to import; data modules import the constants below
    from transformers import PreTrainedTokenizerFast

log = logging.getLogger(__name__)

from agent_forge.data.special_tokens import (  # noqa: E402 - re-exported, see __all__
    BOS,
    END_OF_THOUGHT,
    EOS,
    PAD,
    SPECIAL_TOKENS,
    START_OF_THOUGHT,
    THINKING_TOKENS,
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
    TOOL_RESULT_CLOSE,
    TOOL_RESULT_OPEN,
    UNK,
)

TOKENIZER_FILE = "tokenizer.json"
MIN_VOCAB_SIZE = 256 + len(SPECIAL_TOKENS)  # every byte plus the specials


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE of exactly `vocab_size` entries (specials included) on `texts`.

    If the texts support fewer merges, the remaining ids are `<|reserved_i|>` special tokens.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < MIN_VOCAB_SIZE:
        raise ValueError(f"vocab_size {vocab_size} is below the minimum {MIN_VOCAB_SIZE}")
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    # No normalizer: NFC/NFKC would break decode(encode(s)) == s.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    learned = tok.get_vocab_size()
    if learned < vocab_size:
        # The texts ran out of pairs to merge. Pad with never-produced reserved ids so the
        # embedding size is exactly the configured vocab_size.
        log.warning("BPE learned %d of %d entries; reserving the rest", learned, vocab_size)
        tok.add_special_tokens([f"<|reserved_{i}|>" for i in range(vocab_size - learned)])
    log.info("trained byte-level BPE: %d entries", tok.get_vocab_size())
    return _wrap(tok)


def _wrap(tok: object) -> PreTrainedTokenizerFast:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        pad_token=PAD,
        additional_special_tokens=list(SPECIAL_TOKENS[4:]),
        clean_up_tokenization_spaces=False,
    )
    return fast


def save_tokenizer(tok: PreTrainedTokenizerFast, directory: str | Path) -> Path:
    """Write `tokenizer.json` (plus the HF side files) into `directory`; returns the json path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(str(directory))
    return directory / TOKENIZER_FILE


def load_tokenizer(directory: str | Path) -> PreTrainedTokenizerFast:
    """Load a tokenizer saved by `save_tokenizer` (only `tokenizer.json` is required)."""
    from tokenizers import Tokenizer

    from agent_forge.errors import DataFileError

    path = Path(directory) / TOKENIZER_FILE
    if not path.is_file():
        raise DataFileError(str(path), "tokenizer file not found")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
        raise DataFileError(str(path), f"not a valid tokenizer file: {exc}") from exc
    return _wrap(tok)


__all__ = [
    "BOS",
    "END_OF_THOUGHT",
    "EOS",
    "PAD",
    "SPECIAL_TOKENS",
    "START_OF_THOUGHT",
    "THINKING_TOKENS",
    "TOOL_CALL_CLOSE",
    "TOOL_CALL_OPEN",
    "TOOL_RESULT_CLOSE",
    "TOOL_RESULT_OPEN",
    "TOKENIZER_FILE",
    "UNK",
    "load_tokenizer",
    "save_tokenizer",
    "train_tokenizer",
]
