"""The session's run.log: every log record of a run, tagged with the phase that wrote it."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
from collections.abc import Iterator
from pathlib import Path

_LINE_START = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} [A-Z]+ \[")
_PHASE: contextvars.ContextVar[str] = contextvars.ContextVar("forge_phase", default="-")
LOG_FORMAT = "%(asctime)s %(levelname)s [%(phase)s] %(name)s: %(message)s"


class _PhaseFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.phase = _PHASE.get()
        return True


@contextlib.contextmanager
def phase_log_context(phase: str) -> Iterator[None]:
    token = _PHASE.set(phase)
    try:
        yield
    finally:
        _PHASE.reset(token)


@contextlib.contextmanager
def session_log_handler(path: Path, level: int = logging.INFO) -> Iterator[None]:
    """Append the root logger's records to `path` while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(_PhaseFilter())
    root = logging.getLogger()
    old_level = root.level
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


def tag_lines(lines: list[str], current: str | None = None) -> list[tuple[str | None, str]]:
    """(phase, line) for each line; a line without a tag (a traceback's continuation) belongs to
    the record above it."""
    out = []
    for line in lines:
        tag = phase_of_line(line) if _LINE_START.match(line) else None
        current = tag if tag is not None else current
        out.append((current, line))
    return out


def phase_of_line(line: str) -> str | None:
    """The phase tag of a run.log line written with LOG_FORMAT, or None."""
    start = line.find(" [")
    end = line.find("] ", start + 2)
    if start < 0 or end < 0:
        return None
    return line[start + 2 : end]
