"""Byte-level BPE: exact round trips on unicode text, specials reserved as single ids in order,
deterministic training, exact vocab sizes for both profiles, save/load."""

from __future__ import annotations

import pytest

from agent_forge.data.corpus import generate_corpus
from agent_forge.errors import DataFileError
from agent_forge.model.tokenizer import (
    SPECIAL_TOKENS,
    TOKENIZER_FILE,
    load_tokenizer,
    save_tokenizer,
    train_tokenizer,
)

SAMPLES = [
    "What is 3 + 4?",
    "Ünïcödé — 日本語のテキスト, emoji 🙂👍🏽, Ελληνικά, עברית.",
    "  leading and trailing spaces  \n\ttabs\r\nand CRLF\n\n",
    "def add_3(x):\n    return x + 3\n",
    "<think>maybe</think><step>1<|startofthought|>x<|endofthought|><tool_call>{}</tool_call>",
    "",
    "\x00\x7f control \u200b zero-width",
]


@pytest.fixture(scope="module")
def corpus():
    return generate_corpus(0, 150_000) + SAMPLES[1:2]


@pytest.fixture(scope="module")
def tiny_tok(corpus):
    return train_tokenizer(corpus, 2048)


@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip(tiny_tok, text):
    ids = tiny_tok.encode(text, add_special_tokens=False)
    assert tiny_tok.decode(ids) == text


def test_specials_are_single_reserved_ids_in_order(tiny_tok):
    assert len(SPECIAL_TOKENS) == len(set(SPECIAL_TOKENS)) == 18
    for i, tok in enumerate(SPECIAL_TOKENS):
        assert tiny_tok.convert_tokens_to_ids(tok) == i
        assert tiny_tok.encode(f" x {tok} y", add_special_tokens=False).count(i) == 1
    assert (tiny_tok.pad_token_id, tiny_tok.bos_token_id, tiny_tok.eos_token_id) == (0, 1, 2)
    assert tiny_tok.unk_token_id == 3
    # text never produces a special id unless the special's exact string is in it
    plain = tiny_tok.encode("think step reason < > / | tool_call", add_special_tokens=False)
    assert min(plain) >= len(SPECIAL_TOKENS)


@pytest.mark.parametrize("vocab_size", [2048, 4096, 8000, 16000])
def test_exact_vocab_size(corpus, vocab_size):
    tok = train_tokenizer(corpus, vocab_size)
    assert len(tok) == vocab_size
    ids = tok.encode(SAMPLES[1], add_special_tokens=False)
    assert max(ids) < vocab_size and tok.decode(ids) == SAMPLES[1]


def test_training_is_deterministic(corpus, tmp_path, tiny_tok):
    a = save_tokenizer(tiny_tok, tmp_path / "a")
    b = save_tokenizer(train_tokenizer(corpus, 2048), tmp_path / "b")
    assert a.name == TOKENIZER_FILE and a.read_bytes() == b.read_bytes()


def test_save_load(tiny_tok, tmp_path):
    save_tokenizer(tiny_tok, tmp_path)
    loaded = load_tokenizer(tmp_path)
    for text in SAMPLES:
        assert loaded.encode(text) == tiny_tok.encode(text)
    assert loaded.convert_ids_to_tokens(list(range(18))) == list(SPECIAL_TOKENS)


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="below the minimum"):
        train_tokenizer(["abc"], 100)
    with pytest.raises(DataFileError, match="not found"):
        load_tokenizer(tmp_path)
    (tmp_path / TOKENIZER_FILE).write_text("{not json")
    with pytest.raises(DataFileError, match="not a valid tokenizer"):
        load_tokenizer(tmp_path)
