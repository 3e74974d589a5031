"""Phase 1's data: the generated dataset and corpus (built once per session), the tokenizer
trained on them, each specialisation's training stream and the held-out stream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from agent_forge.config.phase_configs import CognatePhaseConfig
from agent_forge.data import build_dataset, load_corpus, load_split
from agent_forge.data.lm_text import encode_documents, format_example
from agent_forge.model.tokenizer import load_tokenizer, save_tokenizer, train_tokenizer

SANDBOX_DOMAINS = {"python_functions"}  # scored by the eval sandbox (a later issue), not here


def load_data(
    c: CognatePhaseConfig, run_dir: Path
) -> tuple[Any, list[str], list[Any], torch.Tensor, list[Any]]:
    """The dataset (built once per session: a resume rebuilds nothing), the tokenizer, the
    train corpus and examples up to max_level, the held-out stream, the test examples."""
    data_dir = run_dir / "data"
    if not (data_dir / "manifest.json").is_file():
        build_dataset(data_dir, c.data_seed, c.examples_per_level, corpus_bytes=c.corpus_bytes)
    corpus = load_corpus(data_dir, "train")
    train_ex = [e for e in load_split(data_dir, "train") if e.level <= c.max_level]
    tok = tokenizer(c, run_dir / "tokenizer", corpus, train_ex)
    selection = [e for e in load_split(data_dir, "selection") if e.level <= c.max_level]
    val_docs = load_corpus(data_dir, "selection") + [format_example(e) for e in selection]
    test_ex = [e for e in load_split(data_dir, "test") if e.domain not in SANDBOX_DOMAINS]
    return tok, corpus, train_ex, encode_documents(tok, val_docs, c.data_seed), test_ex


def tokenizer(c: CognatePhaseConfig, path: Path, corpus: list[str], train_ex: list[Any]) -> Any:
    """The session's byte-level BPE: trained once on the corpus and training examples."""
    if (path / "tokenizer.json").is_file():
        return load_tokenizer(path)
    tok = train_tokenizer(corpus + [format_example(e) for e in train_ex], c.vocab_size)
    save_tokenizer(tok, path)
    return tok


def train_stream(
    c: CognatePhaseConfig,
    tok: Any,
    corpus: list[str],
    train_ex: list[Any],
    domains: list[str],
    seed: int,
) -> torch.Tensor:
    """The corpus plus these domains' examples, level L repeated level_copies[L-1] times
    (the easy levels are what a model this small can learn in Phase 1's budget)."""
    docs = list(corpus)
    for e in train_ex:
        if e.domain in domains:
            docs += [format_example(e)] * c.level_copies[e.level - 1]
    return encode_documents(tok, docs, seed)
