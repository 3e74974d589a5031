"""`python -m tests.support.cli_with_test_phases ARGS`: the real CLI with the test phases built.

FORGE_TEST_STEPS / FORGE_TEST_SLEEP set the training phase's steps and per-step sleep.
"""

import os

import agent_forge.phases as phase_table
from agent_forge.cli.main import main
from tests.support.phases import make_phases

phase_table.PHASES = make_phases(
    steps=int(os.environ.get("FORGE_TEST_STEPS", "4")),
    sleep=float(os.environ.get("FORGE_TEST_SLEEP", "0")),
)

if __name__ == "__main__":
    main()
