"""Reading the insights of many calls at once (issue 22's aggregates): the same reads,
audits and refusals as one `read_insights` per call, in batches."""

from __future__ import annotations

import json

import pytest

from _teamdata import insights_doc, plain_utterances, store_analysed, store_call
from callvault.errors import Restricted
from callvault.vault import Vault


def test_each_read_is_audited_and_refusals_are_left_out(vault: Vault) -> None:
    calls = []
    for seed in range(5):
        call_id = store_call(vault, "alice", seed, caller=f"+1415555010{seed}")
        store_analysed(vault, call_id, plain_utterances("alice"), insights_doc("alice"))
        calls.append(call_id)
    bare = store_call(vault, "alice", 9)  # never analysed: no insights
    vault.restrictions.restrict("+14155550103", "objects to processing")
    with pytest.raises(Restricted):
        vault.artifacts.read_insights(calls[3])
    before = len(vault.audit_entries())

    found = vault.artifacts.read_insights_many(
        [*calls, bare, calls[0]], actor="user:m", purpose="dashboard", batch=2
    )

    expected = [c for c in calls if c != calls[3]]
    assert sorted(found) == sorted(expected)
    for call_id in expected:
        assert found[call_id] == vault.artifacts.read_insights(call_id)
        assert json.loads(found[call_id])["insights"]["trackers"] is not None
    added = vault.audit_entries()[before:]
    reads = [e for e in added if e.action == "insights.read" and e.actor == "user:m"]
    assert sorted(e.details["call_id"] for e in reads) == sorted(expected)  # once each
    refused = [e for e in added if e.action == "insights.read.refused"]
    assert [e.details["call_id"] for e in refused] == [calls[3]]
    assert all(e.purpose == "dashboard" for e in reads + refused)
    assert vault.verify_audit().ok
