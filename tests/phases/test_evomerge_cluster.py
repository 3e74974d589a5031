"""EvoMerge on a two-node Ray cluster on this machine (a head and a second node with its own CPUs
joining it, which is what `ray start --head` then `ray start --address ...` make): one
generation's trials land on both nodes, through `agent-forge run --address`, with no code change."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ray.cluster_utils import Cluster

from tests.phases.test_evomerge import EVAL_SMALL, EVO_SMALL
from tests.support.phase_runs import sets


def _env(address: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RAY_USAGE_STATS_ENABLED="0",
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_AUTH_MODE="disabled",
        WANDB_MODE="offline",
        RAY_ADDRESS=address,
    )
    return env


@pytest.mark.ray
@pytest.mark.slow
def test_one_generation_lands_trials_on_both_nodes_of_a_two_node_cluster(small_pipeline, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(small_pipeline[0], home)
    # Ray's own test harness: a head, then a second node (a raylet with its own CPUs) joining
    # it, as `ray start --head` + `ray start --address` would; all on 127.0.0.1.
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        # Trials long enough (a few seconds each) that the second node's trial actor is up
        # before the first, reused, has scored them all: with EVO_SMALL's sub-second trials a
        # loaded CI machine once ran all 8 on the head.
        evo = EVO_SMALL | {
            "generations": 0,
            "report_baselines": False,
            "per_level": 16,
            "loss_items": 48,
        }
        cmd = [
            sys.executable,
            "-m",
            "agent_forge.cli.main",
            "run",
            "--phase",
            "evomerge",
            "--address",
            cluster.address,
            "--home",
            str(home),
            "--json",
            "--no-dashboard",
            *EVAL_SMALL,
            *sets("evomerge", evo),
        ]
        res = subprocess.run(
            cmd, env=_env(cluster.address), capture_output=True, text=True, timeout=600
        )
        assert res.returncode == 0, res.stderr[-3000:]
        report = json.loads(res.stdout)
    finally:
        cluster.shutdown()
    state_file = Path(home, "sessions", report["session_id"], "evomerge", "search", "state.json")
    state = json.loads(state_file.read_text())
    gen0 = [v for v in state["cache"].values() if "node_id" in v]
    assert len(gen0) == 8 and not any("error" in v for v in gen0)
    assert len({v["node_id"] for v in gen0}) == 2, [v["node_id"] for v in gen0]
