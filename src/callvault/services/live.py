"""The live board: what the monitors of calls in progress publish, and what managers and
compliance users see of it while the calls go on (issue 20).

A monitor (`capture live`, the SIPREC server, `monitor replay --live`) runs in another
process than `serve`, and there may be several `serve` processes, so the board is kept
in the metadata database (`vault.live`), not in memory:

* `LiveBoard.open_call` puts a call on the board, `publish` adds its events
  (`analysis.live.LiveEvent`: partial and final words per leg, alerts) in one
  transaction per call of it, `close_call` takes it off (its rows stay for
  `live_keep_minutes`, then the `live.prune` job deletes them).
* Words are sealed under the key ring's board key (`vault._live`); the audit chain gets
  ids only.
* Each alert also goes, in the same transaction, into the audit chain (`live.alert`: the
  live call's id, the alert's id, rule, leg, call time and confidence; never the words)
  and the per-rule counter behind `callvault_live_alerts_total`; once committed, a
  `call.alert` webhook job is queued for each configured URL (`services.webhooks`: ids
  and figures, signed, delivered with retries by the workers; the words are left out:
  a subscriber reads them through the API, access-checked and audited). A crash between
  the commit and the queueing loses that webhook, never the alert.
* Readers see the calls `access.LIVE_READ` lets them (a rep their own calls, a manager
  their team's, compliance and admin all: as for stored calls); a call out of reach
  looks absent. `acknowledge` (`access.LIVE_ACK`) is audited.

The board's event numbers (`seq`) are board-wide and increase in commit order, so a
reader that asks for everything "after N" (an SSE client's Last-Event-ID) misses
nothing and sees nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from callvault.analysis.live import Alert, LiveEvent
from callvault.config import Config
from callvault.errors import NotFound
from callvault.jobs import Queue
from callvault.services import webhooks
from callvault.services._context import Context
from callvault.services.access import LIVE_ACK, LIVE_READ, CallScope, Principal, require
from callvault.services.jobs import open_queue
from callvault.services.live_retention import prune_live
from callvault.services.reach import agent_team, reach_agents
from callvault.vault import (
    LiveAlertRecord,
    LiveCallRecord,
    LiveEntry,
    LiveEventRecord,
    NewLiveAlert,
    Vault,
)

__all__ = [
    "ALERT_EVENT",
    "LiveAlertRecord",
    "LiveBoard",
    "LiveCallRecord",
    "LiveCallView",
    "LiveEventRecord",
    "LiveMetrics",
    "live_metrics",
]

log = logging.getLogger("callvault.services")

ALERT_EVENT = "call.alert"
# The most events one read hands back; a reader further behind asks again from the last.
READ_LIMIT = 1000


@dataclass(frozen=True)
class LiveCallView:
    """A call on the board with its alerts (acknowledged ones included), as a reader
    sees it."""

    call: LiveCallRecord
    alerts: tuple[LiveAlertRecord, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.call.to_json(), "alerts": [a.to_json() for a in self.alerts]}


@dataclass(frozen=True)
class LiveMetrics:
    """The board's figures for `/metrics`: calls going on, alerts raised per rule."""

    active_calls: int
    alerts: Mapping[str, int]


def live_metrics(ctx: Context) -> LiveMetrics:
    """Read from the database at scrape time, so every `serve` process says the same."""
    return LiveMetrics(ctx.vault.live.active_count(), ctx.vault.live.alert_counts())


def _entry(event: LiveEvent) -> LiveEntry:
    if event.event == "alert":
        alert = event.alert or Alert(
            rule=event.rule or "unknown",
            kind="unknown",
            channel=event.channel,
            call_time=event.call_time,
            start=event.call_time,
            text=event.text,
            confidence=event.confidence if event.confidence is not None else 0.0,
        )
        return LiveEntry(
            "alert",
            channel=alert.channel,
            call_time=alert.call_time,
            body={"speaker": event.speaker} if event.speaker else None,
            alert=NewLiveAlert(
                rule=alert.rule,
                kind=alert.kind,
                severity=alert.severity,
                channel=alert.channel,
                call_time=alert.call_time,
                start=alert.start,
                confidence=alert.confidence,
                text=alert.text,
            ),
        )
    return LiveEntry(
        event.event,
        channel=event.channel,
        call_time=event.call_time,
        body={
            "speaker": event.speaker,
            "text": event.text,
            "words": [w.to_json() for w in event.words],
        },
    )


class LiveBoard:
    """The live board of one process over the context's storage. Writers (the monitors)
    use `open_call`, `publish` and `close_call`; readers (the API, the web app) the
    rest, each with the principal asking. `queue`: where `call.alert` webhook jobs go
    (default: the context's, else one opened over its storage when first needed)."""

    def __init__(self, ctx: Context, *, queue: Queue | None = None) -> None:
        self.ctx = ctx
        self._queue = queue if queue is not None else ctx.queue
        self._owned: Vault | None = None

    @classmethod
    def open(cls, config: Config) -> LiveBoard:
        """A board over the vault `config` names, for a monitor in its own process
        (`capture live --monitor`, `siprec --monitor`, `monitor replay --live`); `close`
        closes that vault."""
        vault = Vault.open(config)
        board = cls(Context(config, vault))
        board._owned = vault
        return board

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def _webhook_queue(self) -> Queue:
        if self._queue is None:
            self._queue = open_queue(self.ctx.config, self.ctx.vault)
        return self._queue

    # -- writing (the monitors) --------------------------------------------------------

    def open_call(
        self,
        *,
        source: str,
        roles: Mapping[int, str],
        agent: str | None = None,
        label: str | None = None,
        started_at: datetime | None = None,
    ) -> str:
        """Put a call on the board; its live id. `label`: a display name that is not
        personal data (a trunk, a line, a queue; never a number or a name)."""
        team = agent_team(self.ctx, agent)
        with self.ctx.vault.transaction(purpose="live monitoring") as tx:
            call = self.ctx.vault.live.open_call(
                source=source,
                roles=roles,
                agent=agent,
                team=team,
                label=label,
                started_at=started_at or datetime.now(UTC),
                tx=tx,
            )
            tx.audit("live.open", "live_call", call.id, details={"source": source})
        return call.id

    def publish(self, live_id: str, events: Sequence[LiveEvent]) -> None:
        """Store `events` of the call in one transaction: words sealed, each alert
        audited (ids only) and counted; then queue a `call.alert` webhook per alert."""
        if not events:
            return
        entries = [_entry(e) for e in events]
        outgoing: list[dict[str, Any]] = []
        with self.ctx.vault.transaction(purpose="live monitoring") as tx:
            stored = self.ctx.vault.live.append(live_id, entries, tx=tx)
            for entry, (seq, alert_id) in zip(entries, stored, strict=True):
                if entry.alert is None or alert_id is None:
                    continue
                figures = {
                    "alert_id": alert_id,
                    "seq": seq,
                    "rule": entry.alert.rule,
                    "channel": entry.alert.channel,
                    "call_time": round(entry.alert.call_time, 3),
                    "confidence": round(entry.alert.confidence, 3),
                }
                tx.audit("live.alert", "live_call", live_id, details=figures)
                outgoing.append(
                    {
                        "live_call_id": live_id,
                        **figures,
                        "kind": entry.alert.kind,
                        "severity": entry.alert.severity,
                    }
                )
        if outgoing and self.ctx.config.webhook_urls:
            call_id = self.ctx.vault.live.get(live_id).call_id
            try:
                queue = self._webhook_queue()
                for data in outgoing:
                    webhooks.publish(
                        self.ctx.config,
                        queue,
                        ALERT_EVENT,
                        live_id,
                        source=str(data["alert_id"]),
                        data={**data, "call_id": call_id},
                    )
            except Exception as exc:  # noqa: BLE001 - the alerts are stored; say so
                log.warning("call.alert webhooks not queued: %s", type(exc).__name__)

    def close_call(self, live_id: str, *, call_id: str | None = None) -> None:
        """Take the call off the board (its rows stay `live_keep_minutes`); `call_id`:
        the stored call, when the recorder knows it (may be given by a second close)."""
        with self.ctx.vault.transaction(purpose="live monitoring") as tx:
            self.ctx.vault.live.close_call(
                live_id, call_id=call_id, ended_at=datetime.now(UTC), tx=tx
            )
            tx.audit("live.close", "live_call", live_id, details={"call_id": call_id})

    def prune(self, *, now: datetime | None = None) -> int:
        """Delete what is past `live_keep_minutes` (the `live.prune` job)."""
        return prune_live(self.ctx, now=now)

    # -- reading (managers, compliance) ------------------------------------------------

    def _scope(self, call: LiveCallRecord) -> CallScope:
        return CallScope(call.id, call.agent, agent_team(self.ctx, call.agent))

    def _reachable(self, viewer: Principal, action: str, live_id: str) -> LiveCallRecord:
        """The call, when `viewer` may take `action` on it; out of reach looks absent."""
        call = self.ctx.vault.live.get(live_id)
        try:
            require(viewer, action, self._scope(call))
        except NotFound:
            raise NotFound(
                f"live call {live_id} does not exist (or has ended and been pruned)"
            ) from None
        return call

    def active_calls(self, viewer: Principal) -> list[LiveCallView]:
        """The calls going on that `viewer` may see, oldest first, with their alerts.
        Audited once (`live.list`: the ids shown)."""
        require(viewer, LIVE_READ)
        agents = reach_agents(self.ctx, viewer)
        calls = self.ctx.vault.live.calls(agents=agents)
        views = [LiveCallView(c, tuple(self.ctx.vault.live.alerts(c.id))) for c in calls]
        self.ctx.vault.record_event(
            "live.list",
            "live_board",
            None,
            details={"calls": [c.id for c in calls]},
            actor=f"user:{viewer.username}",
        )
        return views

    def events_since(
        self, viewer: Principal, live_id: str, after_seq: int = 0, *, limit: int = READ_LIMIT
    ) -> list[LiveEventRecord]:
        """The call's events numbered above `after_seq`, oldest first (at most `limit`:
        ask again from the last one). Audited (`live.read`)."""
        self._reachable(viewer, LIVE_READ, live_id)
        found = self.ctx.vault.live.events(after=after_seq, live_ids=[live_id], limit=limit)
        self.ctx.vault.record_event(
            "live.read",
            "live_call",
            live_id,
            details={"after": after_seq, "events": len(found)},
            actor=f"user:{viewer.username}",
        )
        return found

    def watch(self, viewer: Principal, *, audit: bool = True) -> int:
        """Start following the board: checks access, audits it once (`live.watch`) and
        returns the board's newest event number (where a new follower may begin)."""
        require(viewer, LIVE_READ)
        if audit:
            self.ctx.vault.record_event(
                "live.watch", "live_board", None, actor=f"user:{viewer.username}"
            )
        return int(self.ctx.vault.live.last_seq())

    def updates(
        self, viewer: Principal, after_seq: int, *, limit: int = READ_LIMIT
    ) -> list[LiveEventRecord]:
        """Events numbered above `after_seq` of every call `viewer` may see (calls opened
        since included), oldest first: what a follower polls (`watch` audited it)."""
        require(viewer, LIVE_READ)
        agents = reach_agents(self.ctx, viewer)
        return self.ctx.vault.live.events(after=after_seq, agents=agents, limit=limit)

    def call(self, viewer: Principal, live_id: str) -> LiveCallView:
        """One call on the board with its alerts (not audited: `events_since` is)."""
        call = self._reachable(viewer, LIVE_READ, live_id)
        return LiveCallView(call, tuple(self.ctx.vault.live.alerts(live_id)))

    def acknowledge(self, viewer: Principal, alert_id: str) -> LiveAlertRecord:
        """Acknowledge an alert (audited `live.ack`); acknowledging it again changes
        nothing and returns it as it is."""
        try:
            alert = self.ctx.vault.live.alert(alert_id)
            self._reachable(viewer, LIVE_ACK, alert.live_id)
        except NotFound:
            raise NotFound(f"live alert {alert_id} does not exist (or was pruned)") from None
        with self.ctx.vault.transaction(
            actor=f"user:{viewer.username}", purpose="live monitoring"
        ) as tx:
            record, done = self.ctx.vault.live.acknowledge(
                alert_id, by=viewer.username, at=datetime.now(UTC), tx=tx
            )
            if done:
                tx.audit(
                    "live.ack",
                    "live_alert",
                    alert_id,
                    details={"live_call_id": record.live_id, "rule": record.rule},
                )
        return record
