"""run.log: records tagged with their phase; traceback lines stay with their record."""

import logging

from agent_forge.core.run_log import phase_log_context, session_log_handler, tag_lines


def test_records_are_tagged_and_continuations_follow_their_record(tmp_path):
    path = tmp_path / "run.log"
    log = logging.getLogger("forge.test")
    before = list(logging.getLogger().handlers)
    with session_log_handler(path):
        log.info("before")
        with phase_log_context("cognate"):
            try:
                raise ValueError("boom")
            except ValueError:
                log.exception("failed")
        with phase_log_context("evomerge"):
            log.info("merging")
    tagged = tag_lines(path.read_text().splitlines())
    phases = [tag for tag, _ in tagged]
    assert phases[0] == "-" and phases[-1] == "evomerge"
    cognate = [line for tag, line in tagged if tag == "cognate"]
    assert any("failed" in ln for ln in cognate) and any("ValueError: boom" in ln for ln in cognate)
    assert logging.getLogger().handlers == before  # the handler is removed afterwards
