"""The live board: calls in progress, their words and alerts, for every process at once.

`vault.live` (a `LiveRepository`) keeps what the monitors of calls in progress publish
(`services.live.LiveBoard`) where the web app and the API of any number of `serve`
processes read it: in the metadata database, not in one process's memory.

* One row per call being monitored (`live_calls`), opened and closed by its monitor.
* An ordered log of its events (`live_events`): opened, partial and final words per
  leg, alerts, acknowledgements, closed. `seq` is board-wide and comes from the one
  `live_cursor` row, raised in the publishing transaction: the row stays locked until
  that transaction commits, so events become visible in the order of their numbers and
  a reader that asks for "after N" never skips one committed later with a lower number.
  (A publish is a handful of statements; the lock serialises publishers for that long.)
* A partial is replaced by the next partial or final of its leg: it is deleted when that
  one is stored, so a leg keeps at most one partial.
* Alerts (`live_alerts`) with the rule, leg, call time and confidence in columns and
  their acknowledgement; `live_alert_counts` counts them per rule and is never pruned.

Words are personal data: an event's payload and an alert's text are sealed with
AES-256-GCM under the board key of the key ring (`KeyRing.board_key`), with the live
call id and the event's number (or the alert's id) as associated data, so a row moved to
another call or position fails to open. No transcript text is ever in a clear column or
in the audit chain.

Rows of calls that ended more than `live_keep_minutes` ago are deleted (`prune`), and so
are calls never closed (a monitor that died) once they are older than the stale limit.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from callvault.errors import InputError, IntegrityError, NotFound
from callvault.vault._models import (
    LiveAlertCountRow,
    LiveAlertRow,
    LiveCallRow,
    LiveCursorRow,
    LiveEventRow,
)
from callvault.vault._repo import Repository
from callvault.vault._unit import Transaction

__all__ = [
    "LIVE_KINDS",
    "LiveAlertRecord",
    "LiveCallRecord",
    "LiveEntry",
    "LiveEventRecord",
    "LiveRepository",
    "NewLiveAlert",
]

# What a board event is: the call opened, words (partial: may still change; final:
# never again), an alert, an alert acknowledged, the call closed.
LIVE_KINDS = ("open", "partial", "final", "alert", "ack", "close")
_WORDS = frozenset({"partial", "final"})
_AAD = b"callvault/live/v1"
_NONCE = 12


def _new_id() -> str:
    return secrets.token_hex(8)


def _now() -> datetime:
    return datetime.now(UTC)


def _no_such_live_call(live_id: str) -> NotFound:
    return NotFound(f"live call {live_id} does not exist (or has ended and been pruned)")


@dataclass(frozen=True)
class LiveCallRecord:
    """A call on the board: `roles` maps a channel to its role ("agent", "customer")."""

    id: str
    source: str
    label: str | None
    roles: Mapping[int, str]
    agent: str | None
    team: str | None
    started_at: datetime
    ended_at: datetime | None
    call_id: str | None

    @property
    def active(self) -> bool:
        return self.ended_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "label": self.label,
            "roles": {str(k): v for k, v in sorted(self.roles.items())},
            "agent": self.agent,
            "team": self.team,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "call_id": self.call_id,
        }


@dataclass(frozen=True)
class NewLiveAlert:
    """An alert to store: `text` is sealed, everything else is kept in columns."""

    rule: str
    kind: str
    severity: str
    channel: int | None
    call_time: float
    start: float
    confidence: float
    text: str


@dataclass(frozen=True)
class LiveEntry:
    """One event to append: `body` (JSON: speaker, text, words) is sealed; `alert` is
    given for kind "alert"."""

    kind: str
    channel: int | None = None
    call_time: float | None = None
    body: Mapping[str, Any] | None = None
    alert: NewLiveAlert | None = None
    alert_id: str | None = None  # the alert an "ack" event is about


@dataclass(frozen=True)
class LiveAlertRecord:
    id: str
    live_id: str
    seq: int
    rule: str
    kind: str
    severity: str
    channel: int | None
    call_time: float
    start: float
    confidence: float
    text: str
    acknowledged_by: str | None
    acknowledged_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "live_id": self.live_id,
            "seq": self.seq,
            "rule": self.rule,
            "kind": self.kind,
            "severity": self.severity,
            "channel": self.channel,
            "call_time": round(self.call_time, 3),
            "start": round(self.start, 3),
            "confidence": round(self.confidence, 3),
            "text": self.text,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": self.acknowledged_at.isoformat() if self.acknowledged_at else None,
        }


@dataclass(frozen=True)
class LiveEventRecord:
    """A stored event, opened: `body` is the unsealed payload ({} for none); `alert`
    the alert an "alert" or "ack" event is about, as it is now."""

    seq: int
    live_id: str
    kind: str
    channel: int | None
    call_time: float | None
    body: Mapping[str, Any] = field(default_factory=dict)
    alert: LiveAlertRecord | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seq": self.seq,
            "live_id": self.live_id,
            "kind": self.kind,
            "channel": self.channel,
            "call_time": None if self.call_time is None else round(self.call_time, 3),
            **dict(self.body),
        }
        if self.alert is not None:
            out["alert"] = self.alert.to_json()
        return out


def _call_record(row: LiveCallRow) -> LiveCallRecord:
    roles = {int(k): str(v) for k, v in json.loads(row.roles).items()}
    return LiveCallRecord(
        row.id,
        row.source,
        row.label,
        roles,
        row.agent,
        row.team,
        row.started_at,
        row.ended_at,
        row.call_id,
    )


class LiveRepository(Repository):
    """The live board's rows (`vault.live`)."""

    # -- sealing -----------------------------------------------------------------------

    def _aead(self) -> AESGCM:
        return AESGCM(self.keyring.board_key())

    @staticmethod
    def _aad(live_id: str, what: str) -> bytes:
        return b"|".join((_AAD, live_id.encode(), what.encode()))

    def _seal_bytes(self, aead: AESGCM, live_id: str, what: str, data: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + aead.encrypt(nonce, data, self._aad(live_id, what))

    def _open_bytes(self, aead: AESGCM, live_id: str, what: str, sealed: bytes) -> bytes:
        try:
            return aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], self._aad(live_id, what))
        except InvalidTag:
            raise IntegrityError(
                f"live call {live_id}: {what} does not authenticate under the board key "
                "(a row altered or moved, or another key ring)"
            ) from None

    def _alert_record(self, aead: AESGCM, row: LiveAlertRow) -> LiveAlertRecord:
        text = self._open_bytes(aead, row.live_id, f"alert|{row.id}", row.text).decode()
        return LiveAlertRecord(
            row.id,
            row.live_id,
            row.seq,
            row.rule,
            row.kind,
            row.severity,
            row.channel,
            row.call_time,
            row.start,
            row.confidence,
            text,
            row.acknowledged_by,
            row.acknowledged_at,
        )

    # -- writing -----------------------------------------------------------------------

    def open_call(
        self,
        *,
        source: str,
        roles: Mapping[int, str],
        agent: str | None,
        team: str | None,
        label: str | None,
        started_at: datetime,
        tx: Transaction,
    ) -> LiveCallRecord:
        """Put a call on the board (with its "open" event) in `tx`."""
        if not source or len(source) > 64:
            raise InputError("a live call's source must be 1 to 64 characters")
        if label is not None and len(label) > 128:
            raise InputError("a live call's label must be at most 128 characters")
        row = LiveCallRow(
            id=_new_id(),
            source=source,
            label=label,
            roles=json.dumps({str(int(k)): str(v) for k, v in roles.items()}, sort_keys=True),
            agent=agent,
            team=team,
            started_at=started_at,
            ended_at=None,
            call_id=None,
        )
        tx.session.add(row)
        tx.session.flush()
        self._append(tx.session, row.id, [LiveEntry("open")])
        return _call_record(row)

    def append(
        self, live_id: str, entries: Sequence[LiveEntry], *, tx: Transaction
    ) -> list[tuple[int, str | None]]:
        """Append `entries` to the log of an active call in `tx`; (seq, alert id or
        None) for each. A call that ended takes no more events (InputError)."""
        row = tx.session.get(LiveCallRow, live_id)
        if row is None:
            raise _no_such_live_call(live_id)
        if row.ended_at is not None:
            raise InputError(f"live call {live_id} has ended; it takes no more events")
        return self._append(tx.session, live_id, entries)

    def _append(
        self, session: Session, live_id: str, entries: Sequence[LiveEntry]
    ) -> list[tuple[int, str | None]]:
        if not entries:
            return []
        for entry in entries:
            if entry.kind not in LIVE_KINDS:
                raise InputError(f"unknown live event kind {entry.kind!r}")
            if (entry.kind == "alert") != (entry.alert is not None):
                raise InputError("an alert event, and only one, carries an alert")
        # Raising the cursor locks its row until the commit (see the module's note).
        session.execute(
            update(LiveCursorRow)
            .where(LiveCursorRow.id == 1)
            .values(last_seq=LiveCursorRow.last_seq + len(entries))
        )
        last = session.scalars(select(LiveCursorRow.last_seq).where(LiveCursorRow.id == 1)).one()
        first = last - len(entries) + 1
        aead = self._aead()
        out: list[tuple[int, str | None]] = []
        latest_words: dict[int | None, int] = {}
        rules: dict[str, int] = {}
        for seq, entry in enumerate(entries, start=first):
            alert_id = entry.alert_id if entry.kind == "ack" else None
            if entry.alert is not None:
                alert = entry.alert
                alert_id = _new_id()
                session.add(
                    LiveAlertRow(
                        id=alert_id,
                        live_id=live_id,
                        seq=seq,
                        rule=alert.rule[:64],
                        kind=alert.kind[:32],
                        severity=alert.severity[:16],
                        channel=alert.channel,
                        call_time=float(alert.call_time),
                        start=float(alert.start),
                        confidence=float(alert.confidence),
                        text=self._seal_bytes(
                            aead, live_id, f"alert|{alert_id}", alert.text.encode()
                        ),
                    )
                )
                rules[alert.rule[:64]] = rules.get(alert.rule[:64], 0) + 1
            payload = None
            if entry.body is not None:
                data = json.dumps(dict(entry.body), ensure_ascii=False, separators=(",", ":"))
                payload = self._seal_bytes(aead, live_id, f"event|{seq}", data.encode())
            session.add(
                LiveEventRow(
                    seq=seq,
                    live_id=live_id,
                    kind=entry.kind,
                    channel=entry.channel,
                    call_time=entry.call_time,
                    alert_id=alert_id,
                    payload=payload,
                )
            )
            if entry.kind in _WORDS:
                latest_words[entry.channel] = seq
            out.append((seq, alert_id))
        session.flush()
        # A leg keeps one partial: the newest words of the leg replace the ones before.
        for channel, seq in latest_words.items():
            session.execute(
                delete(LiveEventRow).where(
                    LiveEventRow.live_id == live_id,
                    LiveEventRow.kind == "partial",
                    LiveEventRow.channel.is_(None)
                    if channel is None
                    else LiveEventRow.channel == channel,
                    LiveEventRow.seq < seq,
                )
            )
        for rule, count in sorted(rules.items()):
            self._count(session, rule, count)
        return out

    def _count(self, session: Session, rule: str, count: int) -> None:
        values = {"rule": rule, "count": count}
        if session.get_bind().dialect.name == "postgresql":
            pg = pg_insert(LiveAlertCountRow).values(values)
            session.execute(
                pg.on_conflict_do_update(
                    index_elements=["rule"], set_={"count": LiveAlertCountRow.count + count}
                )
            )
        else:
            lite = sqlite_insert(LiveAlertCountRow).values(values)
            session.execute(
                lite.on_conflict_do_update(
                    index_elements=["rule"], set_={"count": LiveAlertCountRow.count + count}
                )
            )

    def close_call(
        self, live_id: str, *, call_id: str | None, ended_at: datetime, tx: Transaction
    ) -> LiveCallRecord:
        """Mark the call ended (with its "close" event); closing it again changes only
        a stored call id not yet known."""
        row = tx.session.get(LiveCallRow, live_id)
        if row is None:
            raise _no_such_live_call(live_id)
        if row.ended_at is None:
            self._append(tx.session, live_id, [LiveEntry("close")])
            row.ended_at = ended_at
        if call_id is not None:
            row.call_id = call_id
        return _call_record(row)

    def acknowledge(
        self, alert_id: str, *, by: str, at: datetime, tx: Transaction
    ) -> tuple[LiveAlertRecord, bool]:
        """Acknowledge an alert (with an "ack" event); (the alert, whether this call
        acknowledged it: False when it already was)."""
        row = tx.session.get(LiveAlertRow, alert_id)
        if row is None:
            raise NotFound(f"live alert {alert_id} does not exist (or was pruned)")
        done = row.acknowledged_by is None
        if done:
            row.acknowledged_by = by[:64]
            row.acknowledged_at = at
            self._append(
                tx.session, row.live_id, [LiveEntry("ack", channel=row.channel, alert_id=row.id)]
            )
            tx.session.flush()
        return self._alert_record(self._aead(), row), done

    def prune(self, *, ended_before: datetime, stale_before: datetime, tx: Transaction) -> int:
        """Delete calls that ended before `ended_before`, and calls never closed that
        started before `stale_before`, with their events and alerts; how many calls."""
        session = tx.session
        doomed = list(
            session.scalars(
                select(LiveCallRow.id).where(
                    or_(
                        LiveCallRow.ended_at < ended_before,
                        LiveCallRow.ended_at.is_(None) & (LiveCallRow.started_at < stale_before),
                    )
                )
            )
        )
        for chunk in (doomed[i : i + 500] for i in range(0, len(doomed), 500)):
            session.execute(delete(LiveEventRow).where(LiveEventRow.live_id.in_(chunk)))
            session.execute(delete(LiveAlertRow).where(LiveAlertRow.live_id.in_(chunk)))
            session.execute(delete(LiveCallRow).where(LiveCallRow.id.in_(chunk)))
        return len(doomed)

    # -- reading -----------------------------------------------------------------------

    def get(self, live_id: str) -> LiveCallRecord:
        with self._read() as session:
            row = session.get(LiveCallRow, live_id)
            if row is None:
                raise _no_such_live_call(live_id)
            return _call_record(row)

    def calls(
        self, *, agents: Sequence[str] | None = None, active: bool = True
    ) -> list[LiveCallRecord]:
        """Calls on the board (only those still going on with `active`), of `agents`
        when given (None: every call), oldest first."""
        query = select(LiveCallRow).order_by(LiveCallRow.started_at, LiveCallRow.id)
        if active:
            query = query.where(LiveCallRow.ended_at.is_(None))
        if agents is not None:
            query = query.where(LiveCallRow.agent.in_(list(agents)))
        with self._read() as session:
            return [_call_record(row) for row in session.scalars(query)]

    def last_seq(self) -> int:
        """The number of the board's newest event (0: none yet)."""
        with self._read() as session:
            return int(
                session.scalars(select(LiveCursorRow.last_seq).where(LiveCursorRow.id == 1)).one()
            )

    def events(
        self,
        *,
        after: int = 0,
        live_ids: Iterable[str] | None = None,
        agents: Sequence[str] | None = None,
        limit: int = 1000,
    ) -> list[LiveEventRecord]:
        """Events numbered above `after`, oldest first, at most `limit`: of the calls
        `live_ids` when given, of calls whose agent is in `agents` when given."""
        query = (
            select(LiveEventRow).where(LiveEventRow.seq > after).order_by(LiveEventRow.seq)
        ).limit(limit)
        if live_ids is not None:
            query = query.where(LiveEventRow.live_id.in_(list(live_ids)))
        if agents is not None:
            query = query.join(LiveCallRow, LiveCallRow.id == LiveEventRow.live_id).where(
                LiveCallRow.agent.in_(list(agents))
            )
        aead = self._aead()
        with self._read() as session:
            rows = list(session.scalars(query))
            alert_ids = sorted({r.alert_id for r in rows if r.alert_id})
            alerts: dict[str, LiveAlertRow] = {}
            if alert_ids:
                for found in session.scalars(
                    select(LiveAlertRow).where(LiveAlertRow.id.in_(alert_ids))
                ):
                    alerts[found.id] = found
            out = []
            for row in rows:
                body: Mapping[str, Any] = {}
                if row.payload is not None:
                    body = json.loads(
                        self._open_bytes(aead, row.live_id, f"event|{row.seq}", row.payload)
                    )
                alert_row = alerts.get(row.alert_id) if row.alert_id else None
                alert = self._alert_record(aead, alert_row) if alert_row is not None else None
                out.append(
                    LiveEventRecord(
                        row.seq, row.live_id, row.kind, row.channel, row.call_time, body, alert
                    )
                )
            return out

    def alerts(self, live_id: str) -> list[LiveAlertRecord]:
        """The alerts of a call, in the order they were raised."""
        aead = self._aead()
        with self._read() as session:
            rows = session.scalars(
                select(LiveAlertRow)
                .where(LiveAlertRow.live_id == live_id)
                .order_by(LiveAlertRow.seq)
            )
            return [self._alert_record(aead, row) for row in rows]

    def alert(self, alert_id: str) -> LiveAlertRecord:
        with self._read() as session:
            row = session.get(LiveAlertRow, alert_id)
            if row is None:
                raise NotFound(f"live alert {alert_id} does not exist (or was pruned)")
            return self._alert_record(self._aead(), row)

    def active_count(self) -> int:
        with self._read() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(LiveCallRow)
                    .where(LiveCallRow.ended_at.is_(None))
                )
                or 0
            )

    def alert_counts(self) -> dict[str, int]:
        """Alerts raised per rule since the board began (pruning leaves these)."""
        with self._read() as session:
            return {
                row.rule: int(row.count)
                for row in session.scalars(
                    select(LiveAlertCountRow).order_by(LiveAlertCountRow.rule)
                )
            }
