"""The live board on SQLite and PostgreSQL: a monitor publishes partial and final words
and alerts, readers see the calls their role reaches (a rep their own, a manager their
team's, compliance all), in order and without gaps; the words are sealed in every row,
the audit chain gets ids only, each alert queues a signed `call.alert` webhook, an
acknowledgement is audited, and ended calls are pruned after `live_keep_minutes`."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from _receiver import SECRET, Receiver
from callvault.accounts import Accounts
from callvault.analysis.live import Alert, LiveEvent, LiveWord
from callvault.config import Config
from callvault.errors import InputError, NotAuthorized, NotFound
from callvault.jobs import EmbeddedQueue, JobStatus
from callvault.services import Context, task_registry
from callvault.services.access import Principal
from callvault.services.live import LiveBoard, live_metrics
from callvault.services.webhooks import DELIVER_TASK
from callvault.vault import Vault

PASSWORD = "correct horse battery staple"
SECRET_WORDS = "zanzibar quokka"  # words that must never be found in clear in the database
CARD = "card number ending 4242"

COMPLIANCE = Principal("cora", "compliance")
MANAGER = Principal("mia", "manager", "emea")
OTHER_MANAGER = Principal("otto", "manager", "apac")
REP = Principal("rob", "rep", "emea")
TEAMMATE = Principal("tess", "rep", "emea")
AUDITOR = Principal("aud", "auditor")


def words(text_: str, start: float) -> tuple[LiveWord, ...]:
    return tuple(
        LiveWord(start + 0.4 * n, start + 0.4 * n + 0.3, w, 0.9)
        for n, w in enumerate(text_.split())
    )


def partial(text_: str, at: float, channel: int = 1) -> LiveEvent:
    return LiveEvent("partial", at, channel, "customer", text_, words(text_, at - 1))


def final(text_: str, at: float, channel: int = 1) -> LiveEvent:
    return LiveEvent("final", at, channel, "customer", text_, words(text_, at - 1))


def alert(rule: str, at: float, said: str, confidence: float = 0.8) -> LiveEvent:
    fired = Alert(rule, "phrase", 1, at, at - 1, said, confidence, "critical", {"n": 1})
    return LiveEvent(
        "alert", at, 1, "customer", said, rule=rule, confidence=confidence, alert=fired
    )


def users(vault: Vault) -> None:
    accounts = Accounts(vault)
    accounts.add_user("cora", PASSWORD, "compliance")
    accounts.add_user("mia", PASSWORD, "manager", team="emea")
    accounts.add_user("otto", PASSWORD, "manager", team="apac")
    accounts.add_user("rob", PASSWORD, "rep", team="emea")
    accounts.add_user("tess", PASSWORD, "rep", team="emea")


def raw_rows(vault: Vault) -> str:
    """Every value of every board row, as text (bytes decoded leniently)."""
    found = []
    with vault.engine.connect() as conn:
        for table in ("live_calls", "live_events", "live_alerts"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                for value in row:
                    if isinstance(value, (bytes, memoryview)):
                        value = bytes(value).decode("latin-1")
                    found.append(str(value))
    return "\n".join(found)


def test_publish_read_seal_audit_and_ack(vault: Vault) -> None:
    users(vault)
    board = LiveBoard(Context(vault.config, vault))
    live = board.open_call(
        source="siprec", roles={0: "agent", 1: "customer"}, agent="rob", label="line 3"
    )
    board.publish(live, [partial("i want", 1.0), partial("i want to say " + SECRET_WORDS, 2.0)])
    board.publish(
        live,
        [
            final("i want to say " + SECRET_WORDS, 2.5),
            partial("and my", 3.0),
            alert("card-data", 4.0, CARD),
        ],
    )

    # A leg keeps one partial: the newest; finals stay, in order.
    events = board.events_since(COMPLIANCE, live, 0)
    assert [e.kind for e in events] == ["open", "final", "partial", "alert"]
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    assert events[1].body["text"] == "i want to say " + SECRET_WORDS
    assert events[1].body["words"][0] == {"start": 1.5, "end": 1.8, "text": "i", "confidence": 0.9}
    assert events[2].body["text"] == "and my"
    fired = events[3].alert
    assert fired is not None
    assert (fired.rule, fired.kind, fired.severity, fired.channel) == (
        "card-data",
        "phrase",
        "critical",
        1,
    )
    assert (fired.call_time, fired.confidence, fired.text) == (4.0, 0.8, CARD)
    assert fired.acknowledged_by is None
    # Reading on from the last number gives only what came after.
    assert board.events_since(COMPLIANCE, live, events[2].seq) == events[3:]

    # Sealed: neither the words nor the alert text is in any column of any row.
    raw = raw_rows(vault)
    assert "zanzibar" not in raw and "quokka" not in raw and "4242" not in raw
    assert "line 3" in raw  # the label is a display name, kept in clear

    # The audit chain has the alert with ids and figures, never its words.
    (entry,) = vault.audit_entries(action="live.alert")
    assert entry.object_id == live
    assert entry.details == {
        "alert_id": fired.id,
        "seq": events[3].seq,
        "rule": "card-data",
        "channel": 1,
        "call_time": 4.0,
        "confidence": 0.8,
    }
    every = "\n".join(str(e.details) for e in vault.audit_entries())
    assert "4242" not in every and "zanzibar" not in every

    # The board as the metrics see it.
    metrics = live_metrics(Context(vault.config, vault))
    assert (metrics.active_calls, dict(metrics.alerts)) == (1, {"card-data": 1})

    # Acknowledged once, audited once, with an "ack" event for the followers.
    acked = board.acknowledge(MANAGER, fired.id)
    assert acked.acknowledged_by == "mia" and acked.acknowledged_at is not None
    again = board.acknowledge(COMPLIANCE, fired.id)
    assert again.acknowledged_by == "mia"
    (ack,) = vault.audit_entries(action="live.ack")
    assert (ack.actor, ack.object_id, ack.details) == (
        "user:mia",
        fired.id,
        {"live_call_id": live, "rule": "card-data"},
    )
    (ack_event,) = board.events_since(COMPLIANCE, live, events[3].seq)
    assert ack_event.kind == "ack" and ack_event.alert is not None
    assert ack_event.alert.acknowledged_by == "mia"

    board.close_call(live, call_id="c-stored")
    assert board.active_calls(COMPLIANCE) == []
    with pytest.raises(InputError, match=f"live call {live} has ended"):
        board.publish(live, [final("more", 9.0)])
    assert live_metrics(Context(vault.config, vault)).active_calls == 0
    assert vault.live.get(live).call_id == "c-stored"


def test_readers_see_the_calls_their_role_reaches(vault: Vault) -> None:
    users(vault)
    board = LiveBoard(Context(vault.config, vault))
    robs = board.open_call(source="capture", roles={0: "agent"}, agent="rob")
    tess = board.open_call(source="capture", roles={0: "agent"}, agent="tess")
    nobody = board.open_call(source="capture", roles={0: "agent"})
    board.publish(robs, [alert("competitor", 3.0, "acme dialer")])

    def seen(who: Principal) -> list[str]:
        return [v.call.id for v in board.active_calls(who)]

    assert seen(COMPLIANCE) == [robs, tess, nobody]
    assert seen(MANAGER) == [robs, tess]
    assert seen(OTHER_MANAGER) == []
    assert seen(REP) == [robs]
    assert seen(TEAMMATE) == [tess]
    with pytest.raises(NotAuthorized):
        seen(AUDITOR)
    # The follower's stream is narrowed the same way, new calls included.
    assert {e.live_id for e in board.updates(REP, 0)} == {robs}
    assert {e.live_id for e in board.updates(MANAGER, 0)} == {robs, tess}

    # Out of reach looks absent, with the message of a call that does not exist.
    with pytest.raises(NotFound, match=f"live call {robs} does not exist"):
        board.events_since(OTHER_MANAGER, robs, 0)
    with pytest.raises(NotFound, match=f"live call {robs} does not exist"):
        board.events_since(TEAMMATE, robs, 0)
    (view,) = board.active_calls(REP)
    (fired,) = view.alerts
    # A rep does not clear the alerts of their own call; another team's manager finds none.
    with pytest.raises(NotAuthorized):
        board.acknowledge(REP, fired.id)
    with pytest.raises(NotFound, match=f"live alert {fired.id} does not exist"):
        board.acknowledge(OTHER_MANAGER, fired.id)
    assert board.acknowledge(MANAGER, fired.id).acknowledged_by == "mia"


def test_each_alert_queues_a_signed_call_alert_webhook(
    config: Config, vault: Vault, receiver: Receiver
) -> None:
    hooked = replace(config, webhook_urls=(receiver.url,), webhook_secret=SECRET)
    opened: list[EmbeddedQueue] = []
    registry = task_registry(Context(hooked, vault), queue=lambda: opened[0])
    queue = EmbeddedQueue(vault.engine, registry, backoff_base=0.005)
    opened.append(queue)
    board = LiveBoard(Context(hooked, vault), queue=queue)
    live = board.open_call(source="siprec", roles={1: "customer"})
    board.publish(live, [final("no recording please", 2.0), alert("consent-refused", 2.0, "no")])
    (job,) = [j for j in queue.list_jobs(status=JobStatus.QUEUED) if j.task == DELIVER_TASK]
    assert "no recording" not in str(job.payload)
    assert queue.run_one("test-worker") is not None
    receiver.wait_for(1)
    document = receiver.verified(0)  # the signature checks out
    (fired,) = vault.live.alerts(live)
    assert document["event"] == "call.alert"
    assert document["data"] == {
        "live_call_id": live,
        "alert_id": fired.id,
        "seq": fired.seq,
        "rule": "consent-refused",
        "kind": "phrase",
        "severity": "critical",
        "channel": 1,
        "call_time": 2.0,
        "confidence": 0.8,
        "call_id": None,
    }
    assert queue.get(job.id).status is JobStatus.SUCCEEDED
    (delivered,) = vault.audit_entries(action="webhook.deliver")
    assert delivered.object_id == live and delivered.details["ok"] is True


def test_ended_calls_are_pruned_after_keep_minutes(vault: Vault) -> None:
    board = LiveBoard(Context(replace(vault.config, live_keep_minutes=10), vault))
    ended = board.open_call(source="capture", roles={0: "agent"})
    going = board.open_call(source="capture", roles={0: "agent"})
    board.publish(ended, [final("hello", 1.0), alert("silence", 5.0, "")])
    board.close_call(ended)
    now = datetime.now(UTC)
    assert board.prune(now=now + timedelta(minutes=9)) == 0
    assert board.prune(now=now + timedelta(minutes=11)) == 1
    with pytest.raises(NotFound):
        vault.live.get(ended)
    assert [c.id for c in vault.live.calls()] == [going]
    with vault.engine.connect() as conn:
        for table in ("live_events", "live_alerts"):
            assert (
                conn.execute(
                    text(f"SELECT count(*) FROM {table} WHERE live_id = :id"), {"id": ended}
                ).scalar_one()
                == 0
            )
    (pruned,) = vault.audit_entries(action="live.prune")
    assert pruned.details == {"calls": 1, "keep_minutes": 10}
    # The counter of alerts never goes down; a call never closed goes after 12 h more.
    assert live_metrics(Context(vault.config, vault)).alerts == {"silence": 1}
    assert board.prune(now=now + timedelta(hours=12, minutes=9)) == 0
    assert board.prune(now=now + timedelta(hours=12, minutes=11)) == 1


def test_concurrent_publishers_leave_no_gap_for_a_follower(vault: Vault) -> None:
    """Four monitors publish at once; a follower reading "after N" as it goes sees every
    event exactly once, in increasing order (the cursor row orders the commits)."""
    board = LiveBoard(Context(vault.config, vault))
    calls = [board.open_call(source="capture", roles={0: "agent"}) for _ in range(4)]
    start = vault.live.last_seq()
    done = threading.Event()
    seen: list[int] = []

    def follow() -> None:
        after = start
        while True:
            finished = done.is_set()
            for event in vault.live.events(after=after):
                seen.append(event.seq)
                after = event.seq
            if finished:
                return

    def monitor(live: str) -> None:
        for n in range(15):
            board.publish(live, [final(f"word {n}", float(n), channel=0)])

    follower = threading.Thread(target=follow)
    follower.start()
    workers = [threading.Thread(target=monitor, args=(c,)) for c in calls]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    done.set()
    follower.join()
    assert seen == list(range(start + 1, start + 61))


def test_the_migration_goes_down_and_up_again(config: Config) -> None:
    """Migration 0019 drops the board's tables going down (to 0018) and makes them again,
    with the cursor row a publish needs."""
    from alembic import command

    from callvault.vault._db import _alembic_config

    with Vault.open(config) as vault:
        board = LiveBoard(Context(config, vault))
        board.publish(board.open_call(source="x", roles={}), [final("gone", 1.0)])
        cfg = _alembic_config()
        with vault.engine.execution_options(callvault_write=True).begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0018")
        with vault.engine.connect() as conn:
            tables = {
                name
                for name in vault.engine.dialect.get_table_names(conn)
                if name.startswith("live_")
            }
        assert tables == set()
        with vault.engine.execution_options(callvault_write=True).begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        live = board.open_call(source="x", roles={0: "agent"})
        board.publish(live, [final("back", 1.0)])
        assert [e.seq for e in vault.live.events()] == [1, 2]
