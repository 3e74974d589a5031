"""Data: task generators (10 levels, verifiable answers), a templated corpus, the split Parquet
dataset with its manifest, and readers for user files. Plain Python and pyarrow (no Ray, no W&B).
"""

from __future__ import annotations

from agent_forge.data.corpus import generate_corpus, iter_corpus
from agent_forge.data.dataset import (
    GENERATOR_VERSION,
    build_dataset,
    load_corpus,
    load_manifest,
    load_split,
)
from agent_forge.data.readers import (
    UserData,
    read_data_file,
    read_jsonl,
    read_parquet,
    read_text_file,
)
from agent_forge.data.splits import DEFAULT_FRACTIONS, SPLITS, split_of
from agent_forge.data.tasks import DOMAINS, TASKS, Example, check, generate

__all__ = [
    "DEFAULT_FRACTIONS",
    "DOMAINS",
    "GENERATOR_VERSION",
    "SPLITS",
    "TASKS",
    "Example",
    "UserData",
    "build_dataset",
    "check",
    "generate",
    "generate_corpus",
    "iter_corpus",
    "load_corpus",
    "load_manifest",
    "load_split",
    "read_data_file",
    "read_jsonl",
    "read_parquet",
    "read_text_file",
    "split_of",
]
