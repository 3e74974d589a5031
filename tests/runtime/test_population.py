"""Population scoring on Ray Tune: outcomes in candidate order, a failing trial reported with its
error while the others finish, and one resident holder per reused actor."""

from __future__ import annotations

import os

import pytest

from agent_forge.runtime.population import run_trials


def _score(holder, cand, shared):
    if cand["id"] == shared["bad"]:
        raise RuntimeError("this candidate cannot be merged")
    holder.seen = getattr(holder, "seen", 0) + 1  # survives reset_config: the actor is reused
    return {"fitness": cand["x"] * 2, "pid": os.getpid(), "seen": holder.seen}


@pytest.mark.ray
def test_trials_score_in_order_a_failure_is_reported_and_actors_are_reused(ray_session, tmp_path):
    cands = [{"id": f"c{i}", "x": float(i)} for i in range(5)]
    out = run_trials(
        cands, _score, {"bad": "c2"}, {"cpu": 1}, str(tmp_path), "pop", max_concurrent=1
    )
    assert [o.candidate["id"] for o in out] == [c["id"] for c in cands]
    assert out[2].metrics is None and "cannot be merged" in (out[2].error or "")
    good = [o.metrics for o in out if o.metrics is not None]
    assert [m["fitness"] for m in good] == [0.0, 2.0, 6.0, 8.0]
    assert max(m["seen"] for m in good) >= 2  # a later trial found the holder of an earlier one
