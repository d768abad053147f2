"""Search through the API, on both databases: each role finds only the calls it may
read (a rep's own, a manager's team's), hits carry the marked snippet and where the
utterance is, and the search is audited with the caller and without its text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_rbac_matrix import World, build_world, serving

from callvault.config import Config
from callvault.vault import Vault


@pytest.fixture
def world(config: Config, vault: Vault) -> Iterator[World]:
    with serving(build_world(config, vault)) as built:
        yield built


def _search(world: World, who: str, **params: str) -> dict[str, object]:
    got = world.client.get("/api/v1/search", params=params, headers=world.bearer(who))
    assert got.status_code == 200, got.text
    document: dict[str, object] = got.json()
    return document


def _agents(world: World, document: dict[str, object]) -> set[str]:
    by_call = {call_id: agent for agent, call_id in world.calls.items()}
    hits = document["hits"]
    assert isinstance(hits, list)
    return {by_call[h["call_id"]] for h in hits}


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("root", {"alice", "bob", "carol"}),
        ("cora", {"alice", "bob", "carol"}),
        ("mona", {"alice", "bob"}),
        ("alice", {"alice"}),
        ("carol", {"carol"}),
    ],
)
def test_each_role_finds_only_the_calls_it_may_read(
    world: World, who: str, visible: set[str]
) -> None:
    found = _search(world, who, q="receipt")
    assert _agents(world, found) == visible
    assert found["matches"] == len(visible) and found["ranked"] is True
    hit = found["hits"][0]  # type: ignore[index]
    assert set(hit) == {
        "call_id",
        "utterance",
        "speaker",
        "role",
        "start",
        "end",
        "snippet",
        "score",
    }
    assert "«receipt»" in hit["snippet"]
    assert hit["utterance"] == 2 and hit["start"] == pytest.approx(5.8)
    semantic = _search(world, who, q="sending a receipt", semantic="true", limit="10")
    assert _agents(world, semantic) == visible


def test_an_agent_filter_cannot_widen_the_reach(world: World) -> None:
    assert _search(world, "alice", q="receipt", agent="carol")["hits"] == []
    assert _agents(world, _search(world, "mona", q="receipt", agent="bob")) == {"bob"}
    assert _search(world, "mona", q="receipt", agent="carol")["hits"] == []
    assert _agents(world, _search(world, "root", q="receipt", agent="carol")) == {"carol"}


def test_pages_and_filters(world: World) -> None:
    first = _search(world, "root", q="receipt", limit="2")
    second = _search(world, "root", q="receipt", limit="2", offset="2")
    assert len(first["hits"]) == 2 and len(second["hits"]) == 1  # type: ignore[arg-type]
    assert _agents(world, first) | _agents(world, second) == {"alice", "bob", "carol"}
    assert _search(world, "root", q="receipt", language="de")["hits"] == []
    later = _search(world, "root", q="receipt", since="2026-03-03T00:00:00Z")
    assert later["hits"] == []


def test_search_is_audited_without_its_text_and_refused_to_the_auditor(world: World) -> None:
    _search(world, "alice", q="receipt", purpose="quality review")
    entry = [e for e in world.vault.audit_entries() if e.action == "transcript.search"][-1]
    assert entry.actor == "user:alice" and entry.purpose == "quality review"
    assert entry.details["calls"] == [world.calls["alice"]]
    assert "receipt" not in str(entry.to_dict())
    refused = world.client.get(
        "/api/v1/search", params={"q": "receipt"}, headers=world.bearer("otto")
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "the auditor role may not search"
    naive = world.client.get(
        "/api/v1/search",
        params={"q": "receipt", "since": "2026-03-03T00:00:00"},
        headers=world.bearer("root"),
    )
    assert naive.status_code == 400
    assert "naive" in naive.json()["error"]["message"]
