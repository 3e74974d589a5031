"""`phases.quietstar:` — Phase 3's settings (docs/phases/quietstar.md).

Defaults are the `tiny` profile's; consumer-gpu.yaml overrides. Every number of the phase is here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class QuietStarConfig(_Strict):
    """Phase 3 (being built)."""
