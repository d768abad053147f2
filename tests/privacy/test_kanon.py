"""k-anonymity: groups of fewer than k distinct people are suppressed, with a reason."""

from __future__ import annotations

import pytest

from callvault.errors import InputError
from callvault.privacy import Suppressed, suppress_small


def test_groups_below_k_distinct_people_are_suppressed() -> None:
    groups = {
        "east": ["alice", "bob", "bob", "dan", "eve", "fay"],  # 5 distinct
        "west": ["carol", "carol", "carol", "carol", "carol", "gus"],  # 2 distinct, 6 calls
    }
    kept, suppressed = suppress_small(groups, 5)
    assert list(kept) == ["east"]
    assert suppressed == {"west": Suppressed("west", 5)}
    # The reason names k, never the group's size (which would itself tell how small it is).
    assert suppressed["west"].reason == "fewer than 5 agents: suppressed (k-anonymity, k=5)"
    assert "2" not in suppressed["west"].reason


def test_k_at_the_boundary() -> None:
    groups = {"org": ["a", "b", "c", "d"]}
    assert list(suppress_small(groups, 4)[0]) == ["org"]
    assert list(suppress_small(groups, 5)[1]) == ["org"]
    assert list(suppress_small(groups, 3)[0]) == ["org"]


@pytest.mark.parametrize("k", [0, -1, True])
def test_refuses_a_k_below_one(k: int) -> None:
    with pytest.raises(InputError, match=r"the minimum group size must be 1 or more"):
        suppress_small({"g": ["a"]}, k)
