"""The home directory: everything a run writes lives under it.

Resolution order: `--home`, then `AGENT_FORGE_HOME`, then `./forge_home`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def resolve_home(cli_home: str | os.PathLike[str] | None = None) -> Path:
    if cli_home:
        return Path(cli_home).expanduser().resolve()
    env = os.environ.get("AGENT_FORGE_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return (Path.cwd() / "forge_home").resolve()


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, cli_home: str | os.PathLike[str] | None = None) -> Home:
        return cls(resolve_home(cli_home))

    def ensure(self) -> Home:
        for d in (self.root, self.sessions_dir, self.wandb_dir, self.logs_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def registry_db(self) -> Path:
        return self.root / "registry.db"

    @property
    def sessions_dir(self) -> Path:
        return self.root / "sessions"

    @property
    def wandb_dir(self) -> Path:
        return self.root / "wandb"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def ray_results_dir(self) -> Path:
        return self.root / "ray_results"

    def session_dir(self, session_id: str) -> Path:
        return self.sessions_dir / session_id

    def phase_dir(self, session_id: str, phase: str) -> Path:
        return self.session_dir(session_id) / phase

    def metrics_file(self, session_id: str) -> Path:
        return self.session_dir(session_id) / "metrics.jsonl"

    def log_file(self, session_id: str) -> Path:
        return self.session_dir(session_id) / "run.log"
