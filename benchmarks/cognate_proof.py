"""Phase 1's proof on the default profile, as a user runs it: `agent-forge run --phase cognate`
(400 steps), SIGKILLed once every model has two checkpoints, then `run --resume`; then
`agent-forge eval` of the all-domain model (against itself as the baseline) and of the untrained
shared init on the test split. Prints a table and writes benchmarks/results/cognate_proof.json.

Claims checked (exit 1 if any fails): gates passed; each model beats the unigram baseline and
its level-1 accuracy beats chance by its 95% CI; the resume continued from the checkpoint; the
trained model's test exact match and loss beat chance by their CIs; the untrained init's do not.
The test suite runs the same sequence with 240 steps (tests/phases/test_cognate.py).

    python benchmarks/cognate_proof.py [--home DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "results" / "cognate_proof.json"


def _cli(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "agent_forge.cli.main", *args, "--home", str(home)]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        WANDB_MODE="offline", RAY_USAGE_STATS_ENABLED="0", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0"
    )
    env.pop("RAY_ADDRESS", None)
    return env


def _checkpoints(home: Path) -> dict[str, int]:
    return {r.name: len(list(r.glob("checkpoint_*"))) for r in home.glob("ray_results/*")}


def run_killed_and_resumed(home: Path) -> tuple[str, float]:
    t0 = time.time()
    proc = subprocess.Popen(
        _cli(home, "run", "--phase", "cognate", "--no-dashboard"),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while not (len(runs := _checkpoints(home)) == 3 and min(runs.values()) >= 2):
            if proc.poll() is not None:
                raise SystemExit("the run ended before it was killed")
            time.sleep(0.5)
        time.sleep(3)  # the Train controller registers a checkpoint at its next poll
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    sid = next(home.glob("sessions/*")).name
    done = subprocess.run(
        _cli(home, "run", "--resume", sid, "--json", "--no-dashboard"),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise SystemExit(f"resume failed: {done.stderr[-3000:]}")
    return sid, time.time() - t0


def evaluate(home: Path, model_id: str, *extra: str) -> dict[str, Any]:
    res = subprocess.run(
        _cli(
            home,
            "eval",
            model_id,
            *extra,
            "--set",
            "eval.levels=[1]",
            "--set",
            "eval.per_level=60",
            "--json",
        ),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if res.returncode != 0:
        raise SystemExit(f"eval of {model_id} failed: {res.stderr[-3000:]}")
    out = json.loads(res.stdout)
    return {"results": {r["suite"]: r["metrics"] for r in out["results"]}, "gate": out.get("gate")}


def main() -> int:
    from agent_forge.core.registry import ModelRegistry

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="af_proof_") as tmp:
        home = args.home or Path(tmp) / "home"
        sid, wall = run_killed_and_resumed(home)
        reg = ModelRegistry(home / "registry.db")
        models = reg.list_models(session_id=sid)
        evaluation = json.loads(
            (home / "sessions" / sid / "cognate" / "evaluation.json").read_text(encoding="utf-8")
        )
        init = next(m for m in models if "shared_init" in m["metadata"]["tags"])
        adaptive = next(m for m in models if m["specialization"] == "adaptive_computation")
        trained = evaluate(home, adaptive["model_id"], "--baseline", adaptive["model_id"])
        untrained = evaluate(home, init["model_id"])
    checks: dict[str, bool] = {}
    rows = []
    for name, s in evaluation.items():
        level1 = s["accuracy_by_level"]["1"]
        checks[f"{name}: beats unigram"] = s["val_loss"] < s["unigram_val_loss"]
        checks[f"{name}: level-1 above chance"] = level1["ci95"][0] > level1["chance"]
        checks[f"{name}: resumed"] = s["resumed_from_step"] is not None
        rows.append(
            (
                name,
                s["val_loss"],
                s["unigram_val_loss"],
                level1["accuracy"],
                level1["ci95"],
                level1["chance"],
                s["resumed_from_step"],
            )
        )
    em = trained["results"]["tasks_test"]["exact_match"]
    loss = trained["results"]["loss_test"]["loss"]
    em0 = untrained["results"]["tasks_test"]["exact_match"]
    loss0 = untrained["results"]["loss_test"]["loss"]
    checks["trained: test exact match above chance"] = em["ci95"][0] > em["chance"]
    checks["trained: test loss below uniform"] = loss["ci95"][1] < loss["chance"]
    checks["trained vs itself: gate passes"] = (trained["gate"] or {}).get("verdict") == "pass"
    checks["untrained: exact match not above chance"] = em0["ci95"][0] <= em0["chance"]
    checks["untrained: loss not below uniform"] = loss0["ci95"][1] >= loss0["chance"] - 1e-9
    print(f"Phase 1 default profile, killed and resumed: {wall / 60:.1f} min wall")
    print(
        f"{'model':24} {'val loss':>9} {'unigram':>8} {'L1 acc':>7} {'95% CI':>15} "
        f"{'chance':>7} {'resumed@':>9}"
    )
    for name, v, u, a, ci, ch, r in rows:
        print(f"{name:24} {v:9.3f} {u:8.3f} {a:7.3f} [{ci[0]:.3f}, {ci[1]:.3f}] {ch:7.3f} {r!s:>9}")
    print(
        f"test split, adaptive_computation: exact match {em['value']:.3f} {em['ci95']} "
        f"(chance {em['chance']:.3f}); loss {loss['value']:.3f} {loss['ci95']}"
    )
    print(
        f"test split, untrained init: exact match {em0['value']:.3f} {em0['ci95']}; "
        f"loss {loss0['value']:.3f} {loss0['ci95']} (uniform {loss0['chance']:.3f})"
    )
    for k, ok in checks.items():
        print(f"  [{'pass' if ok else 'FAIL'}] {k}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
                "wall_seconds": wall,
                "evaluation": evaluation,
                "trained_eval": trained,
                "untrained_eval": untrained,
                "checks": checks,
            },
            indent=1,
            default=str,
        )
        + "\n",
        encoding="utf-8",
    )
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
