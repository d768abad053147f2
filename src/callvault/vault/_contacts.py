"""Contacts (from a CRM export) and the calls their participants match.

A contact has a name, an E.164 phone number, a lower-cased e-mail address, an account
(the customer company) and the id the CRM gives it. Imports upsert: a row updates the
contact with its `crm_id`, else the one with its phone number, else the one with its
e-mail address, else it creates a contact; a whole import is one transaction.

A call participant matches a contact when its phone number equals the contact's (both
E.164), or, when the participant has no number, when its name equals the contact's name
case-insensitively (Unicode case folding, compared in Python: SQLite's `lower()` folds
ASCII only). Every read of contacts is audited (`contacts.read`, ids and counts only);
no name, number or address is logged.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import phonenumbers
from sqlalchemy import String, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from callvault.errors import InputError, NotFound
from callvault.vault._core import VaultCore
from callvault.vault._models import Base, CallRow, ParticipantRow, RecordingRow, UTCDateTime

__all__ = [
    "ContactCall",
    "ContactInput",
    "ContactOps",
    "ContactRecord",
    "ContactRow",
    "ImportResult",
    "normalise_email",
    "normalise_phone",
]

# Column widths, checked before a row is written (a message names the field, never the value).
FIELD_LIMITS = {"name": 256, "phone": 32, "email": 320, "account": 256, "crm_id": 128}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_CHUNK = 500


class ContactRow(Base):
    """A contact of the organisation's CRM (migration 0011)."""

    __tablename__ = "contacts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(256))
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    account: Mapped[str | None] = mapped_column(String(256), index=True)
    # Unique where set: several contacts may lack a CRM id (NULLs never collide).
    crm_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


def normalise_phone(value: str, region: str | None, *, field: str = "phone") -> str:
    """`value` as E.164; `region` (ISO 3166 alpha-2) for numbers written without +.
    The error names `field`, never the number."""
    problem = (
        f"{field} is not a phone number; write it with + and the country code (for example "
        "+442071234567) or give the region of national numbers (--region)"
    )
    try:
        number = phonenumbers.parse(value, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        raise InputError(problem) from None
    if not phonenumbers.is_possible_number(number):
        raise InputError(problem)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str, *, field: str = "email") -> str:
    """`value` stripped and lower-cased; the error names `field`, never the address."""
    email = value.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise InputError(f"{field} is not an e-mail address (name@example.com)")
    return email


@dataclass(frozen=True)
class ContactInput:
    """One contact to import; empty fields are None. `phone` is E.164 or national
    (then `region` says where), `email` any case."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    account: str | None = None
    crm_id: str | None = None


@dataclass(frozen=True)
class ImportResult:
    rows: int
    created: int
    updated: int

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "created": self.created, "updated": self.updated}


@dataclass(frozen=True)
class ContactRecord:
    id: str
    name: str | None
    phone: str | None
    email: str | None
    account: str | None
    crm_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: ContactRow) -> ContactRecord:
        return cls(
            row.id,
            row.name,
            row.phone,
            row.email,
            row.account,
            row.crm_id,
            row.created_at,
            row.updated_at,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "phone": self.phone,
            "email": self.email,
            "account": self.account,
            "crm_id": self.crm_id,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class ContactCall:
    """A call one or more of the contacts asked about took part in (metadata only)."""

    call_id: str
    started_at: datetime | None
    created_at: datetime
    direction: str | None
    agent: str | None
    duration_s: float
    consent_state: str
    contact_ids: tuple[str, ...]


def _clean(value: str | None, field: str, where: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > FIELD_LIMITS[field]:
        raise InputError(f"{where}{field} is longer than {FIELD_LIMITS[field]} characters")
    return value


def _checked(row: ContactInput, where: str, region: str | None) -> ContactInput:
    name = _clean(row.name, "name", where)
    phone = _clean(row.phone, "phone", where)
    email = _clean(row.email, "email", where)
    crm_id = _clean(row.crm_id, "crm_id", where)
    if phone is not None:
        phone = normalise_phone(phone, region, field=f"{where}phone")
    if email is not None:
        email = normalise_email(email, field=f"{where}email")
    if phone is None and email is None and crm_id is None:
        raise InputError(
            f"{where}has no crm_id, phone or email: a contact needs one of them to be matched"
        )
    return ContactInput(name, phone, email, _clean(row.account, "account", where), crm_id)


def _find(session: Session, row: ContactInput) -> ContactRow | None:
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


def _calls(session: Session, contacts: Sequence[ContactRow]) -> list[ContactCall]:
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


def _no_such_contact(contact_id: str) -> NotFound:
    return NotFound(f"contact {contact_id} does not exist; `callvault contacts list` shows them")


class ContactOps(VaultCore):
    """Contacts and the calls they took part in: mixed into `Vault`."""

    def import_contacts(
        self, rows: Iterable[ContactInput], *, region: str | None = None, actor: str | None = None
    ) -> ImportResult:
        """Upsert contacts, all or none (one transaction): by `crm_id`, else by phone,
        else by e-mail. A bad row raises InputError naming its position (from 1) and
        field, and nothing is written. Audited as `contacts.import`, counts only."""
        checked = [_checked(row, f"row {n}: ", region) for n, row in enumerate(rows, start=1)]
        created = updated = 0
        with self._write() as session:
            for row in checked:
                now = datetime.now(UTC)
                contact = _find(session, row)
                if contact is None:
                    contact = ContactRow(id=uuid.uuid4().hex, created_at=now)
                    session.add(contact)
                    created += 1
                else:
                    updated += 1
                # An empty cell leaves the stored value as it is: exports often omit fields.
                for field in ("name", "phone", "email", "account", "crm_id"):
                    value = getattr(row, field)
                    if value is not None:
                        setattr(contact, field, value)
                contact.updated_at = now
                session.flush()
            self._record(
                session,
                "contacts.import",
                "contact",
                None,
                actor=actor,
                details={"rows": len(checked), "created": created, "updated": updated},
            )
        return ImportResult(len(checked), created, updated)

    def list_contacts(
        self,
        *,
        account: str | None = None,
        query: str | None = None,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> list[ContactRecord]:
        """Contacts by name, optionally of one `account` (exact) or whose name, phone,
        e-mail or CRM id contains `query` (case-insensitive). Audited, counts only."""
        with self._write() as session:
            select_ = select(ContactRow).order_by(ContactRow.name, ContactRow.id)
            if account is not None:
                select_ = select_.where(ContactRow.account == account)
            if query:
                select_ = select_.where(
                    or_(
                        *(
                            column.icontains(query, autoescape=True)
                            for column in (
                                ContactRow.name,
                                ContactRow.phone,
                                ContactRow.email,
                                ContactRow.crm_id,
                            )
                        )
                    )
                )
            records = [ContactRecord.of(row) for row in session.scalars(select_)]
            self._record(
                session,
                "contacts.read",
                "contact",
                None,
                actor=actor,
                purpose=purpose,
                details={
                    "count": len(records),
                    "by_account": account is not None,
                    "by_query": bool(query),
                },
            )
        return records

    def _contact_row(self, session: Session, contact_id: str) -> ContactRow:
        row = session.get(ContactRow, contact_id)
        if row is None:
            raise _no_such_contact(contact_id)
        return row

    def get_contact(
        self, contact_id: str, *, actor: str | None = None, purpose: str | None = None
    ) -> ContactRecord:
        """One contact; audited as `contacts.read`."""
        with self._write() as session:
            record = ContactRecord.of(self._contact_row(session, contact_id))
            self._record(
                session, "contacts.read", "contact", contact_id, actor=actor, purpose=purpose
            )
        return record

    def contact_calls(
        self, contact_id: str, *, actor: str | None = None, purpose: str | None = None
    ) -> list[ContactCall]:
        """The calls the contact took part in, newest first; audited, ids and counts."""
        with self._write() as session:
            contact = self._contact_row(session, contact_id)
            calls = _calls(session, [contact])
            self._record(
                session,
                "contacts.read",
                "contact",
                contact_id,
                actor=actor,
                purpose=purpose,
                details={"calls": [c.call_id for c in calls]},
            )
        return calls

    def account_calls(
        self, account: str, *, actor: str | None = None, purpose: str | None = None
    ) -> tuple[list[ContactRecord], list[ContactCall]]:
        """The contacts of an account and the calls any of them took part in, newest
        first; NotFound when no contact belongs to it. Audited, ids and counts only."""
        with self._write() as session:
            rows = list(
                session.scalars(
                    select(ContactRow)
                    .where(ContactRow.account == account)
                    .order_by(ContactRow.name, ContactRow.id)
                )
            )
            if rows:
                calls = _calls(session, rows)
                self._record(
                    session,
                    "contacts.read",
                    "account",
                    None,
                    actor=actor,
                    purpose=purpose,
                    details={
                        "contacts": [r.id for r in rows],
                        "calls": [c.call_id for c in calls],
                    },
                )
        if not rows:
            raise NotFound(
                "no contact belongs to that account; `callvault contacts list` shows the "
                "accounts (the name must match exactly)"
            )
        return [ContactRecord.of(r) for r in rows], calls

    def call_contacts(
        self, call_id: str, *, actor: str | None = None, purpose: str | None = None
    ) -> dict[str, tuple[str, ...]]:
        """{participant id: ids of the contacts it matches} for one call; audited."""
        with self._write() as session:
            self._call_row(session, call_id)
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
            self._record(
                session,
                "contacts.read",
                "call",
                call_id,
                actor=actor,
                purpose=purpose,
                details={"contacts": sorted({i for ids in out.values() for i in ids})},
            )
        return out
