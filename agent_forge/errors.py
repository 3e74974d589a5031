"""Typed errors. Each carries the CLI exit code it maps to: 2 for bad input, 1 for a failed run.

At the package top, below `config` and `core` (both raise them); it imports nothing from
agent_forge.
"""

from __future__ import annotations


class ForgeError(Exception):
    """Base of every error the project raises on purpose."""

    exit_code = 1


class UserInputError(ForgeError):
    """Bad input from the user: a config key, a file, an id. Exit code 2; nothing is written."""

    exit_code = 2


class ConfigError(UserInputError):
    """A config value is invalid. `key` is the dotted path of the offending key."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"config key '{key}': {message}")


class DataFileError(UserInputError):
    """A user data file is missing or malformed; names the file and, where known, the line/row."""

    def __init__(self, path: str, message: str, line: int | None = None):
        self.path, self.line = path, line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


class NotFoundError(UserInputError):
    """An id (session, model, phase) that does not exist. The message suggests close matches."""


class PhaseNotBuiltError(UserInputError):
    """A phase of the spec that this version does not implement yet."""


class IntegrityError(ForgeError):
    """Stored data does not match its recorded hash or schema; names the file."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"{path}: {message}")


class MetadataError(ForgeError):
    """Model metadata that fails the JSON schema (on write or on read)."""


class HandoffError(ForgeError):
    """A phase-handoff rule failed: names the rule, the value found and the limit."""

    def __init__(self, source: str, target: str, rule: str, value: object, limit: object):
        self.source, self.target, self.rule, self.value, self.limit = (
            source,
            target,
            rule,
            value,
            limit,
        )
        super().__init__(
            f"handoff {source} -> {target}: rule '{rule}' failed: value {value!r}, limit {limit!r}"
        )


class PhaseFailedError(ForgeError):
    """A phase ran but reported `success=False` (its own gate failed)."""
