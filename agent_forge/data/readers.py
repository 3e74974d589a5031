"""Readers for user data: plain text, JSONL and Parquet. Rows hold `text`, or `prompt` + `answer`
(optional `level`, `domain`, `solution`, `checker`). A bad file raises `DataFileError` naming the
file and the 1-based line (JSONL, text) or row (Parquet); the CLI maps it to exit code 2.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from agent_forge.data.tasks.base import CHECKERS, Example, make_example, parse_number
from agent_forge.errors import DataFileError

USER_DOMAIN = "user"


@dataclass
class UserData:
    """What a user file held: free texts for language modelling and/or prompt-answer examples."""

    texts: list[str] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise DataFileError(str(path), "file not found")
    if not path.is_file():
        raise DataFileError(str(path), "not a regular file")
    return path.read_bytes()


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataFileError(str(path), f"not UTF-8 text (byte {exc.start})", line=line) from exc


def read_text_file(path: str | Path) -> list[str]:
    """Paragraphs (separated by blank lines) of a UTF-8 text file, whitespace-trimmed."""
    p = Path(path)
    text = _decode(p, _read_bytes(p))
    return [para.strip() for para in re.split(r"\n\s*\n", text) if para.strip()]


def _row_to_data(row: dict, where: tuple[str, int], out: UserData) -> None:
    """Add one row to `out`; `where` is (path, 1-based line or row) for errors."""
    path, line = where

    def bad(msg: str) -> DataFileError:
        return DataFileError(path, msg, line=line)

    if row.get("text") is not None:
        if not isinstance(row["text"], str):
            raise bad(f"'text' must be a string, got {type(row['text']).__name__}")
        out.texts.append(row["text"])
        return
    missing = [k for k in ("prompt", "answer") if row.get(k) is None]
    if missing:
        raise bad(f"row needs 'text' or 'prompt' and 'answer'; missing {', '.join(missing)}")
    prompt, answer = row["prompt"], row["answer"]
    if not isinstance(prompt, str):
        raise bad(f"'prompt' must be a string, got {type(prompt).__name__}")
    if isinstance(answer, bool) or not isinstance(answer, str | int | float):
        raise bad(f"'answer' must be a string or a number, got {type(answer).__name__}")
    level, domain = row.get("level", 0), row.get("domain", USER_DOMAIN)
    if level is None:
        level = 0
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 10:
        raise bad(f"'level' must be an integer 0-10 (0 = no level), got {level!r}")
    if not isinstance(domain, str):
        raise bad(f"'domain' must be a string, got {type(domain).__name__}")
    solution = row.get("solution")
    if solution is not None and not isinstance(solution, str):
        raise bad(f"'solution' must be a string, got {type(solution).__name__}")
    checker = row.get("checker") or ("number" if parse_number(str(answer)) is not None else "text")
    if checker not in CHECKERS:
        raise bad(f"'checker' must be one of {', '.join(CHECKERS)}, got {checker!r}")
    out.examples.append(
        make_example(level, domain, prompt, answer, solution=solution, checker=checker)
    )


def read_jsonl(path: str | Path) -> UserData:
    """One JSON object per line; blank lines are skipped."""
    p = Path(path)
    out = UserData()
    for n, line in enumerate(_decode(p, _read_bytes(p)).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFileError(
                str(p), f"bad JSON: {exc.msg} (column {exc.colno})", line=n
            ) from exc
        if not isinstance(row, dict):
            raise DataFileError(str(p), f"expected a JSON object, got {type(row).__name__}", line=n)
        _row_to_data(row, (str(p), n), out)
    return out


def read_parquet(path: str | Path) -> UserData:
    """A Parquet table with a string `text` column, or string `prompt` and `answer` columns."""
    p = Path(path)
    _read_bytes(p)  # existence check with the same messages
    try:
        table = pq.read_table(p)
    except (pa.ArrowException, OSError) as exc:
        raise DataFileError(str(p), f"not a readable Parquet file: {exc}") from exc
    cols = set(table.column_names)
    need = ["text"] if "text" in cols else ["prompt", "answer"]
    for name in need:
        if name not in cols:
            raise DataFileError(
                str(p), f"needs a 'text' column or 'prompt' and 'answer' columns; missing {name!r}"
            )
        col_type = table.schema.field(name).type
        if not (pa.types.is_string(col_type) or pa.types.is_large_string(col_type)):
            raise DataFileError(str(p), f"column {name!r} must be a string column, got {col_type}")
    out = UserData()
    for n, row in enumerate(table.to_pylist(), start=1):
        _row_to_data(row, (str(p), n), out)
    return out


def read_data_file(path: str | Path) -> UserData:
    """Dispatch on the suffix: .jsonl, .parquet, anything else is read as text."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".jsonl":
        return read_jsonl(p)
    if suffix == ".parquet":
        return read_parquet(p)
    return UserData(texts=read_text_file(p))
