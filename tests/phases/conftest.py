"""The phase tests share `small_pipeline` (tests/conftest.py) and tests/support/phase_runs.py."""
