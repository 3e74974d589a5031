"""Build and load the task dataset: train / selection / test Parquet files plus `manifest.json`
(seed, fractions, counts per split/domain/level, sha256 of every file, generator version).

Splits come from a hash of the normalised prompt (see `splits.py`), so they are disjoint by
construction; prompts are deduplicated globally. Same arguments, byte-identical files.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable, Mapping
from dataclasses import asdict, fields
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from agent_forge.core.storage import atomic_write_text, sha256_file
from agent_forge.data.corpus import generate_corpus
from agent_forge.data.splits import DEFAULT_FRACTIONS, SPLITS, check_fractions, split_of
from agent_forge.data.tasks import DOMAINS, TASKS, Example, normalize_text
from agent_forge.data.tasks.base import MAX_LEVEL, MIN_LEVEL
from agent_forge.errors import DataFileError, IntegrityError

log = logging.getLogger(__name__)

GENERATOR_VERSION = "1"  # bump whenever a generator's output changes for the same seed
MANIFEST = "manifest.json"
CORPUS_FILE = "corpus.parquet"
EXAMPLE_SCHEMA = pa.schema(
    [
        ("level", pa.int32()),
        ("domain", pa.string()),
        ("prompt", pa.string()),
        ("answer", pa.string()),
        ("solution", pa.string()),
        ("tool_call", pa.string()),
        ("uid", pa.string()),
        ("checker", pa.string()),
        ("tests", pa.string()),
    ]
)
CORPUS_SCHEMA = pa.schema([("split", pa.string()), ("text", pa.string())])
MAX_TRIES_FACTOR = 5  # small levels (single-digit sums) run out of distinct prompts; stop trying


def generate_examples(
    seed: int, domain: str, level: int, count: int, seen: set[str]
) -> list[Example]:
    """Up to `count` examples with prompts not in `seen` (which is updated)."""
    rng = random.Random(f"tasks:{seed}:{domain}:{level}")
    generate = TASKS.get(domain).generate
    out: list[Example] = []
    for _ in range(count * MAX_TRIES_FACTOR):
        if len(out) == count:
            break
        ex = generate(rng, level)
        key = normalize_text(ex.prompt)
        if key not in seen:
            seen.add(key)
            out.append(ex)
    return out


def _write(rows: list[dict], schema: pa.Schema, path: Path) -> dict:
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, path, compression="zstd")
    return {"rows": len(rows), "sha256": sha256_file(path)}


def build_dataset(
    out_dir: str | Path,
    seed: int,
    counts_per_level_per_domain: int | Mapping[str, int],
    splits: tuple[float, float, float] = DEFAULT_FRACTIONS,
    domains: Iterable[str] | None = None,
    levels: Iterable[int] = range(MIN_LEVEL, MAX_LEVEL + 1),
    corpus_bytes: int = 0,
) -> dict:
    """Generate, split and write the dataset; returns (and writes) the manifest."""
    fractions = check_fractions(tuple(splits))
    domains = list(domains or DOMAINS)
    levels = sorted(set(levels))
    per_domain = (
        {d: counts_per_level_per_domain for d in domains}
        if isinstance(counts_per_level_per_domain, int)
        else dict(counts_per_level_per_domain)
    )
    for d in domains:
        TASKS.get(d)  # unknown domain -> NotFoundError with a did-you-mean
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict]] = {s: [] for s in SPLITS}
    counts: dict[str, dict[str, dict[str, int]]] = {s: {} for s in SPLITS}
    seen: set[str] = set()
    for d in domains:
        for lvl in levels:
            for ex in generate_examples(seed, d, lvl, per_domain.get(d, 0), seen):
                s = split_of(ex.prompt, fractions)
                rows[s].append(asdict(ex))
                by_level = counts[s].setdefault(d, {})
                by_level[str(lvl)] = by_level.get(str(lvl), 0) + 1
    files = {f"{s}.parquet": _write(rows[s], EXAMPLE_SCHEMA, out / f"{s}.parquet") for s in SPLITS}
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "fractions": dict(zip(SPLITS, fractions, strict=True)),
        "requested_per_level": {d: per_domain.get(d, 0) for d in domains},
        "levels": levels,
        "counts": counts,
        "totals": {s: len(rows[s]) for s in SPLITS},
        "files": files,
    }
    if corpus_bytes > 0:
        docs = list(dict.fromkeys(generate_corpus(seed, corpus_bytes, fractions)))
        corpus_rows = [{"split": split_of(t, fractions), "text": t} for t in docs]
        files[CORPUS_FILE] = _write(corpus_rows, CORPUS_SCHEMA, out / CORPUS_FILE)
        manifest["corpus"] = {
            "bytes_requested": corpus_bytes,
            "documents": {s: sum(r["split"] == s for r in corpus_rows) for s in SPLITS},
        }
    # written last and atomically: its presence means the dataset is complete (a resume skips it)
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    log.info("dataset at %s: %s", out, manifest["totals"])
    return manifest


def load_manifest(data_dir: str | Path) -> dict:
    path = Path(data_dir) / MANIFEST
    if not path.is_file():
        raise DataFileError(str(path), "dataset manifest not found (build the dataset first)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataFileError(str(path), f"bad JSON: {exc.msg}", line=exc.lineno) from exc


def _verified_table(data_dir: str | Path, name: str) -> pa.Table:
    manifest = load_manifest(data_dir)
    path = Path(data_dir) / name
    if name not in manifest["files"] or not path.is_file():
        raise DataFileError(str(path), "file not in the dataset (missing or not in the manifest)")
    if sha256_file(path) != manifest["files"][name]["sha256"]:
        raise IntegrityError(str(path), "sha256 differs from manifest.json")
    return pq.read_table(path)


def load_split(data_dir: str | Path, split: str) -> list[Example]:
    """The examples of one split, after checking the file's hash against the manifest."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} (known: {', '.join(SPLITS)})")
    names = [f.name for f in fields(Example)]
    return [
        Example(**{k: r[k] for k in names})
        for r in _verified_table(data_dir, f"{split}.parquet").to_pylist()
    ]


def load_corpus(data_dir: str | Path, split: str = "train") -> list[str]:
    """The corpus documents of one split (empty if the dataset was built without a corpus)."""
    if CORPUS_FILE not in load_manifest(data_dir)["files"]:
        return []
    return [
        r["text"] for r in _verified_table(data_dir, CORPUS_FILE).to_pylist() if r["split"] == split
    ]
