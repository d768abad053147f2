"""services.ask: questions answered from the calls the asker may read, on SQLite and
PostgreSQL, with the real pipeline's stored (redacted) transcripts and both indexes; the
LLM is a local stand-in server (tests/_fake_llm.py)."""

from __future__ import annotations

import dataclasses

import pytest

from _asked import CARD_DIGITS, CUSTOMERS, DOG_CALL, asked_world
from _fake_llm import fake_llm
from callvault.config import Config
from callvault.errors import InputError
from callvault.search import NOTHING_FOUND
from callvault.services import Context, ask_calls
from callvault.services.access import Principal
from callvault.services.reach import reach_agents
from callvault.vault import Vault

DOG = "what breed is the customer's dog"
AMOUNT = "how much money was transferred"


@pytest.fixture
def calls(config: Config, vault: Vault) -> dict[str, str]:
    return asked_world(config, vault)[0]


def _ctx(config: Config, vault: Vault, **settings: object) -> Context:
    return Context(dataclasses.replace(config, **settings), vault)


def _as(ctx: Context, name: str, role: str, team: str | None) -> tuple[Context, list[str] | None]:
    who = Principal(name, role, team)
    return ctx.acting_as(who), reach_agents(ctx, who)


def test_the_answer_quotes_the_utterance_that_answers(
    config: Config, vault: Vault, calls: dict[str, str]
) -> None:
    answer = ask_calls(_ctx(config, vault), AMOUNT, actor="user:root")
    assert answer.method == "extractive"
    best = answer.quotes[0]
    assert best.call_id == calls["alice"] and best.utterance == 1
    assert best.text == "the amount is one hundred and thirty five dollars"
    assert best.role == "customer" and best.start == pytest.approx(2.0)
    assert answer.text.startswith(f"«{best.text}» [1]")


def test_a_manager_never_gets_text_of_another_team(
    config: Config, vault: Vault, calls: dict[str, str]
) -> None:
    with fake_llm("Golden retriever [1].") as server:
        ctx = _ctx(config, vault, ask_llm_url=server.url)
        mona, agents = _as(ctx, "mona", "manager", "east")
        assert agents is not None and "carol" not in agents
        answer = ask_calls(mona, DOG, agents=agents, actor=mona.actor)
        assert answer.text == NOTHING_FOUND and answer.quotes == ()
        assert server.requests == []  # nothing to quote: the LLM is not asked
        # A question team east can answer: the LLM sees east's quotes, never carol's.
        found = ask_calls(mona, "which card did the customer lose", agents=agents)
        assert found.method == "llm" and found.text == "Golden retriever [1]."
        assert {q.call_id for q in found.quotes} <= {calls["alice"], calls["bob"]}
        assert len(server.requests) == 1
        for line in DOG_CALL:
            assert line.text not in server.sent_text()
            assert line.text not in str(found.to_json())
        # The operator (every call) does find carol's answer.
        root = ask_calls(_ctx(config, vault), DOG)
        assert root.quotes[0].call_id == calls["carol"]
        assert root.quotes[0].text == DOG_CALL[1].text
        # An agent filter cannot widen the reach.
        alice, mine = _as(ctx, "alice", "rep", "east")
        assert ask_calls(alice, DOG, agents=mine, agent="carol").quotes == ()


def test_a_restricted_call_is_never_quoted(
    config: Config, vault: Vault, calls: dict[str, str]
) -> None:
    vault.restrictions.restrict(CUSTOMERS["carol"], "accuracy contested")
    answer = ask_calls(_ctx(config, vault), DOG)
    assert answer.quotes == () and answer.text == NOTHING_FOUND


def test_the_llm_gets_only_redacted_quotes_and_a_timeout_falls_back(
    config: Config, vault: Vault, calls: dict[str, str]
) -> None:
    with fake_llm("A debit card [1].") as server:
        ctx = _ctx(config, vault, ask_llm_url=server.url, ask_llm_timeout=1.0)
        answer = ask_calls(ctx, "which card did the customer lose", actor="user:root")
        assert answer.method == "llm"
        sent = server.sent_text()
        assert "debit card" in sent and "which card did the customer lose" in sent
        for digits in CARD_DIGITS:
            assert digits not in sent  # the stored transcript is the redacted one
        server.delay = 2.0
        slow = ask_calls(ctx, "which card did the customer lose", actor="user:root")
    assert slow.method == "extractive"
    assert slow.note == "LLM unavailable: no reply within 1 s"
    assert slow.quotes and slow.quotes[0].call_id == calls["bob"]
    entry = [e for e in vault.audit_entries() if e.action == "transcript.ask"][-1]
    assert entry.details["method"] == "extractive" and entry.details["llm_failed"] is True


def test_the_ask_is_audited_without_its_question(
    config: Config, vault: Vault, calls: dict[str, str]
) -> None:
    ask_calls(_ctx(config, vault), AMOUNT, purpose="quality review", actor="user:root")
    entries = vault.audit_entries()
    entry = [e for e in entries if e.action == "transcript.ask"][-1]
    assert entry.actor == "user:root" and entry.purpose == "quality review"
    assert calls["alice"] in entry.details["calls"]
    assert entry.details["method"] == "extractive" and entry.details["llm_failed"] is False
    assert "transferred" not in str(entry.to_dict()) and "money" not in str(entry.to_dict())
    # The neighbours were read through the audited transcript read.
    reads = [e for e in entries if e.action == "transcript.read" and e.actor == "user:root"]
    assert {e.details["call_id"] for e in reads} >= {calls["alice"]}
    with pytest.raises(InputError, match="limit must be between 1 and 20, not 0"):
        ask_calls(_ctx(config, vault), AMOUNT, limit=0)
