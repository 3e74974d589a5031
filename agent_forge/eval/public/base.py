"""Shared by the public-benchmark loaders: the `Benchmark` table entry, reading release files
(JSONL, JSONL.gz, a JSON list, Parquet, header-less CSV) into numbered rows, and few-shot draws.

Every reader and parser fails with `DataFileError(path, message, line)`; the message says which
format was expected. Loaders parse every row before building a suite, so nothing is half-loaded.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from agent_forge.errors import DataFileError, UserInputError
from agent_forge.eval.items import Suite

T = TypeVar("T")
Row = tuple[int, Any]  # (1-based line; row number in Parquet; item number in a JSON list, record)
FEWSHOT_DELIMITER = "\n\n"  # between shots, and between the last shot and the question (lm-eval)


@dataclass(frozen=True)
class Benchmark:
    """One entry of `BENCHMARKS`: where its files live and how many shots the spec uses.
    `load(folder, num_fewshot=None, limit=None, seed=1234) -> Suite` reads `<dir>/<folder>`."""

    name: str
    folder: str
    num_fewshot: int
    layout: tuple[str, ...]  # accepted files, relative to the benchmarks dir
    description: str
    load: Callable[..., Suite]


def check_options(num_fewshot: int | None, limit: int | None, default: int) -> int:
    """The shot count to use; UserInputError for a negative count or a limit below 1."""
    k = default if num_fewshot is None else num_fewshot
    if k < 0:
        raise UserInputError(f"num_fewshot must be >= 0, got {k}")
    if limit is not None and limit < 1:
        raise UserInputError(f"limit must be >= 1 (or None for all items), got {limit}")
    return k


def require_dir(folder: Path, layout: Sequence[str]) -> Path:
    if not folder.is_dir():
        raise DataFileError(
            str(folder), f"benchmark folder not found; expected {' or '.join(layout)}"
        )
    return folder


def find_files(folder: Path, patterns: Sequence[str]) -> list[Path]:
    """Every file matching the first pattern that matches any (sorted, so shards stay in order)."""
    for pattern in patterns:
        hits = sorted(p for p in folder.glob(pattern) if p.is_file())
        if hits:
            return hits
    return []


def need_files(folder: Path, patterns: Sequence[str], what: str) -> list[Path]:
    hits = find_files(folder, patterns)
    if not hits:
        raise DataFileError(str(folder), f"no {what} file; expected one of {', '.join(patterns)}")
    return hits


# --- reading ---------------------------------------------------------------------------------


def read_records(path: Path, expected: str) -> list[Row]:
    """Numbered records of a .jsonl / .jsonl.gz / .json (a list) / .parquet / .csv file."""
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            rows = _read_parquet(path)
        elif name.endswith(".json"):
            rows = _read_json_list(path, expected)
        elif name.endswith(".csv"):
            with path.open(encoding="utf-8", newline="") as f:
                rows = _read_csv(f)
        else:
            rows = _read_jsonl(path, expected)
    except (OSError, UnicodeDecodeError, EOFError, csv.Error) as e:
        raise DataFileError(str(path), f"cannot read ({e}); expected {expected}") from None
    if not rows:
        raise DataFileError(str(path), f"no rows; expected {expected}")
    return rows


def _read_jsonl(path: Path, expected: str) -> list[Row]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    rows: list[Row] = []
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataFileError(
                    str(path), f"not JSON ({e.msg}); expected {expected}", n
                ) from None
            if not isinstance(obj, dict):
                kind = type(obj).__name__
                raise DataFileError(
                    str(path), f"a JSON {kind}, not an object; expected {expected}", n
                )
            rows.append((n, obj))
    return rows


def _read_json_list(path: Path, expected: str) -> list[Row]:
    with path.open(encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise DataFileError(
                str(path), f"not JSON ({e.msg}); expected {expected}", e.lineno
            ) from None
    if not isinstance(data, list):
        raise DataFileError(str(path), f"not a JSON list; expected a list of {expected}")
    return list(enumerate(data, 1))


def _read_csv(f: Any) -> list[Row]:
    reader = csv.reader(f)
    rows: list[Row] = []
    start = 1
    for record in reader:  # a quoted field may span lines: number a record by its first line
        if record:
            rows.append((start, record))
        start = reader.line_num + 1
    return rows


def _read_parquet(path: Path) -> list[Row]:
    import pyarrow as pa  # a dependency; imported here so JSONL-only use does not load it
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, ValueError) as e:
        raise OSError(f"not a readable Parquet file: {e}") from None
    return list(enumerate(table.to_pylist(), 1))


def parse_rows(
    path: Path, rows: list[Row], parse: Callable[[Any, str], T], expected: str, start: int = 0
) -> list[T]:
    """`parse(record, ref)` for every row, `ref` = the row's position among all rows loaded
    (from `start`; a fallback item id that is the same for every file format). A KeyError /
    TypeError / ValueError / IndexError becomes a DataFileError naming the file, the line and the
    expected format."""
    out: list[T] = []
    for n, (line, record) in enumerate(rows, start):
        try:
            out.append(parse(record, str(n)))
        except KeyError as e:
            raise DataFileError(str(path), f"missing key {e}; expected {expected}", line) from None
        except (TypeError, ValueError, IndexError, AttributeError) as e:
            raise DataFileError(str(path), f"{e}; expected {expected}", line) from None
    return out


def load_docs(paths: Sequence[Path], parse: Callable[[Any, str], T], expected: str) -> list[T]:
    """The parsed rows of `paths` (shards, in order), numbered on across files."""
    out: list[T] = []
    for path in paths:
        out += parse_rows(path, read_records(path, expected), parse, expected, len(out))
    return out


def check_unique_ids(suite: Suite) -> Suite:
    """Item ids key per-item results (shards, retention): a repeated id is a data error."""
    seen: set[str] = set()
    for item in suite.items:
        if item.id in seen:
            raise DataFileError(suite.source, f"item id {item.id!r} occurs more than once")
        seen.add(item.id)
    return suite


def text_field(record: Any, key: str) -> str:
    value = record[key]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key!r} must be a non-empty string, got {value!r}")
    return value


def string_list(value: Any, key: str, at_least: int = 2) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(x, str) for x in value):
        raise ValueError(f"{key!r} must be a list of strings, got {value!r}")
    if len(value) < at_least:
        raise ValueError(f"{key!r} needs at least {at_least} entries, got {len(value)}")
    return list(value)


def index_field(value: Any, key: str, n: int, base: int = 0) -> int:
    """An int (or a digit string, as in HF's HellaSwag) in base..base+n-1, returned 0-based."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{key!r} must be an index, got {value!r}")
    if isinstance(value, str) and not value.strip().isdigit():
        raise ValueError(f"{key!r} must be an index, got {value!r}")
    i = int(value) - base
    if not 0 <= i < n:
        raise ValueError(f"{key!r} {value!r} is not one of {base}..{base + n - 1}")
    return i


# --- few-shot --------------------------------------------------------------------------------


@dataclass
class ShotPlan(Generic[T]):
    """The scored docs and, for each, its shots in prompt order."""

    scored: list[T]
    shots: list[list[T]]
    source: str  # for Suite.extra["fewshot_source"]


def plan_shots(
    docs: Sequence[T],
    pool: Sequence[T] | None,
    k: int,
    seed: int,
    limit: int | None,
    first_n: bool = False,
    pool_name: str = "the train file",
) -> ShotPlan[T]:
    """k shots per scored doc. From `pool` (the release's train/dev file): a fresh seeded draw
    per doc (lm-eval's default sampler) or the first k (`first_n`, MMLU's dev shots). With no
    pool: k docs drawn once (seeded) from the test docs, shared by every item and removed from
    the scored ones. `limit` keeps the first `limit` scored docs; `pool_name` is for messages."""
    if k == 0:
        scored = list(docs[:limit])
        return ShotPlan(scored, [[] for _ in scored], "none (0-shot)")
    if pool is not None:
        if len(pool) < k:
            raise UserInputError(f"{k} shots asked for, but {pool_name} has {len(pool)} rows")
        scored = list(docs[:limit])
        if first_n:
            return ShotPlan(scored, [list(pool[:k]) for _ in scored], f"first {k} of {pool_name}")
        rng = random.Random(seed)
        shots = [rng.sample(pool, k) for _ in scored]
        return ShotPlan(scored, shots, f"{k} drawn per item from {pool_name} (seed {seed})")
    if len(docs) <= k:
        raise UserInputError(f"{k} shots asked for, but the test file has only {len(docs)} rows")
    held = sorted(random.Random(seed).sample(range(len(docs)), k))
    taken = set(held)
    scored = [d for i, d in enumerate(docs) if i not in taken][:limit]
    shots = [docs[i] for i in held]
    source = f"{k} held out from the test file (seed {seed}; not scored)"
    return ShotPlan(scored, [shots for _ in scored], source)


def with_shots(shots: Sequence[str], query: str) -> str:
    """lm-eval's few-shot context: each shot, then the query, separated by a blank line."""
    return "".join(s + FEWSHOT_DELIMITER for s in shots) + query


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
