from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from agent_forge.merging import ties
from agent_forge.merging.ties import trim

BASE = torch.full((4,), 0.5)
# Three task vectors over 4 entries.
TV = [
    torch.tensor([1.0, -2.0, 3.0, -5.0]),
    torch.tensor([2.0, 1.0, -4.0, 1.0]),
    torch.tensor([-1.0, 4.0, -1.0, 2.0]),
]
# Sums (2, 3, -2, -2) elect signs (+, +, -, -). Entry 3 shows the "sum" rule: two of three
# entries are positive, but -5 outweighs 1 + 2. Disjoint means of the agreeing values:
# e0 (1 + 2)/2 = 1.5, e1 (1 + 4)/2 = 2.5, e2 (-4 - 1)/2 = -2.5, e3 -5/1 = -5.
MERGED_TV = torch.tensor([1.5, 2.5, -2.5, -5.0])


def test_sign_election_and_disjoint_mean_by_hand():
    out = ties([BASE + tv for tv in TV], BASE, density=1.0, lam=1.0)
    assert_close(out, BASE + MERGED_TV)


def test_lambda_scales_the_merged_task_vector():
    out = ties([BASE + tv for tv in TV], BASE, density=1.0, lam=0.5)
    assert_close(out, BASE + 0.5 * MERGED_TV)


def test_trim_keeps_top_magnitudes():
    assert_close(trim(TV[0], 0.5), torch.tensor([0.0, 0.0, 3.0, -5.0]))
    assert_close(trim(TV[0], 0.01), torch.tensor([0.0, 0.0, 0.0, -5.0]))  # at least one survives


def test_trimmed_by_hand():
    # density 0.5 keeps the 2 largest magnitudes of each task vector:
    # tv1 -> (0, 0, 3, -5); tv2 -> (2, 0, -4, 0); tv3 -> (0, 4, 0, 2).
    # Sums (2, 4, -1, -3) elect (+, +, -, -); agreeing means (2, 4, -4, -5).
    out = ties([BASE + tv for tv in TV], BASE, density=0.5)
    assert_close(out, BASE + torch.tensor([2.0, 4.0, -4.0, -5.0]))


def test_bad_density_raises():
    with pytest.raises(ValueError, match="density"):
        ties([BASE], BASE, density=0.0)
