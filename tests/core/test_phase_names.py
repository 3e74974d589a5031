"""Phase ids, aliases, and the generic name registry."""

import pytest

from agent_forge.core.named_registry import Registry
from agent_forge.core.phase_names import PHASE_SEQUENCE, canonical_phase, previous_phase
from agent_forge.errors import NotFoundError
from agent_forge.phases import PHASES


def test_sequence_and_aliases():
    assert len(PHASE_SEQUENCE) == 8 and PHASE_SEQUENCE[0] == "cognate"
    assert canonical_phase("forge") == "curriculum"
    assert canonical_phase("final_compression") == "compression"
    assert canonical_phase("Quiet-Star") == "quietstar"
    assert previous_phase("cognate") is None and previous_phase("evomerge") == "cognate"
    with pytest.raises(NotFoundError, match="phases are"):
        canonical_phase("alchemy")


def test_registry_did_you_mean_and_duplicates():
    reg = Registry("merge method", {"linear": 1, "slerp": 2})
    assert reg.get("slerp") == 2 and "linear" in reg and reg.names() == ["linear", "slerp"]
    with pytest.raises(NotFoundError, match="did you mean slerp"):
        reg.get("slerpp")
    with pytest.raises(ValueError):
        reg.register("linear", 3)


def test_built_phase_table_only_holds_canonical_phases():
    assert all(name in PHASE_SEQUENCE for name in PHASES)
