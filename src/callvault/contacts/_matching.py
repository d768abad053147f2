"""Which contact an imported row updates, and which calls contacts took part in.

A call participant matches a contact when its phone number equals the contact's (both
E.164), or, when the participant has no number, when its name equals the contact's name
case-insensitively (Unicode case folding, compared in Python: SQLite's `lower()` folds
ASCII only). These run inside the caller's session; they read call metadata only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.contacts._models import ContactRow
from callvault.contacts._records import ContactCall, ContactInput
from callvault.vault import CallRow, ParticipantRow, RecordingRow

__all__ = ["contacts_of_participants", "calls_of", "row_to_update"]

_CHUNK = 500


def row_to_update(session: Session, row: ContactInput) -> ContactRow | None:
    """The contact a row updates: by CRM id, else by phone, else by e-mail. A contact
    that has another CRM id is never taken by phone or e-mail: it is another record."""
    if row.crm_id is not None:
        found = session.scalars(select(ContactRow).where(ContactRow.crm_id == row.crm_id)).first()
        if found is not None:
            return found
    for column, value in ((ContactRow.phone, row.phone), (ContactRow.email, row.email)):
        if value is None:
            continue
        query = select(ContactRow).where(column == value)
        if row.crm_id is not None:
            query = query.where(ContactRow.crm_id.is_(None))
        found = session.scalars(query.order_by(ContactRow.created_at, ContactRow.id)).first()
        if found is not None:
            return found
    return None


def _match(session: Session, contacts: Sequence[ContactRow]) -> dict[str, set[str]]:
    """{call id: ids of `contacts` among its participants}."""
    by_phone: dict[str, list[str]] = {}
    by_name: dict[str, list[str]] = {}
    for contact in contacts:
        if contact.phone:
            by_phone.setdefault(contact.phone, []).append(contact.id)
        if contact.name:
            by_name.setdefault(contact.name.casefold(), []).append(contact.id)
    matched: dict[str, set[str]] = {}

    def add(call_id: str, ids: Iterable[str]) -> None:
        matched.setdefault(call_id, set()).update(ids)

    phones = list(by_phone)
    for start in range(0, len(phones), _CHUNK):
        chunk = phones[start : start + _CHUNK]
        rows = session.execute(
            select(ParticipantRow.call_id, ParticipantRow.phone).where(
                ParticipantRow.phone.in_(chunk)
            )
        )
        for call_id, phone in rows:
            add(call_id, by_phone[str(phone)])
    if by_name:
        rows = session.execute(
            select(ParticipantRow.call_id, ParticipantRow.name).where(
                ParticipantRow.phone.is_(None), ParticipantRow.name.is_not(None)
            )
        )
        for call_id, name in rows:
            ids = by_name.get(str(name).casefold())
            if ids:
                add(call_id, ids)
    return matched


def calls_of(session: Session, contacts: Sequence[ContactRow]) -> list[ContactCall]:
    """The calls of `contacts`, newest first (by start, calls without one last)."""
    matched = _match(session, contacts)
    ids = list(matched)
    out: list[ContactCall] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = session.execute(
            select(CallRow, RecordingRow.frames, RecordingRow.sample_rate)
            .join(RecordingRow, RecordingRow.call_id == CallRow.id)
            .where(CallRow.id.in_(chunk))
        )
        seen: set[str] = set()
        for call, frames, rate in rows:
            if call.id in seen:
                continue
            seen.add(call.id)
            out.append(
                ContactCall(
                    call_id=call.id,
                    started_at=call.started_at,
                    created_at=call.created_at,
                    direction=call.direction,
                    agent=call.agent,
                    duration_s=frames / rate if rate else 0.0,
                    consent_state=call.consent_state,
                    contact_ids=tuple(sorted(matched[call.id])),
                )
            )
    epoch = datetime.min.replace(tzinfo=UTC)
    out.sort(
        key=lambda c: (c.started_at is not None, c.started_at or epoch, c.created_at, c.call_id)
    )
    out.reverse()
    return out


def contacts_of_participants(session: Session, call_id: str) -> dict[str, tuple[str, ...]]:
    """{participant id: ids of the contacts it matches} for the participants of one call."""
    participants = list(
        session.scalars(select(ParticipantRow).where(ParticipantRow.call_id == call_id))
    )
    phones = {p.phone for p in participants if p.phone}
    names = {p.name.casefold() for p in participants if not p.phone and p.name}
    candidates: list[ContactRow] = []
    if phones:
        candidates += session.scalars(
            select(ContactRow).where(ContactRow.phone.in_(sorted(phones)))
        )
    if names:
        candidates += [
            c
            for c in session.scalars(select(ContactRow).where(ContactRow.name.is_not(None)))
            if c.name is not None and c.name.casefold() in names
        ]
    out: dict[str, tuple[str, ...]] = {}
    for p in participants:
        if p.phone:
            ids = {c.id for c in candidates if c.phone == p.phone}
        elif p.name:
            key = p.name.casefold()
            ids = {c.id for c in candidates if c.name and c.name.casefold() == key}
        else:
            ids = set()
        out[p.id] = tuple(sorted(ids))
    return out
