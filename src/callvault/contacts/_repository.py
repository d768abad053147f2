"""`Contacts`: the contacts of one storage core, read and written through its units of
work (`vault.transaction`), every read audited as `contacts.read` with ids and counts
only; no name, number or address is logged."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from callvault.contacts._checks import checked_input
from callvault.contacts._matching import calls_of, contacts_of_participants, row_to_update
from callvault.contacts._models import ContactRow
from callvault.contacts._records import ContactCall, ContactInput, ContactRecord, ImportResult
from callvault.errors import NotFound
from callvault.vault import CallRow

if TYPE_CHECKING:
    from callvault.vault import Vault

__all__ = ["Contacts"]


def _no_such_contact(contact_id: str) -> NotFound:
    return NotFound(f"contact {contact_id} does not exist; `callvault contacts list` shows them")


def _contact_row(session: Session, contact_id: str) -> ContactRow:
    row = session.get(ContactRow, contact_id)
    if row is None:
        raise _no_such_contact(contact_id)
    return row


class Contacts:
    """Contacts (from a CRM export) and the calls their participants match.

    Imports upsert: a row updates the contact with its `crm_id`, else the one with its
    phone number, else the one with its e-mail address, else it creates a contact; a
    whole import is one transaction.
    """

    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    def import_rows(
        self, rows: Iterable[ContactInput], *, region: str | None = None, actor: str | None = None
    ) -> ImportResult:
        """Upsert contacts, all or none (one transaction): by `crm_id`, else by phone,
        else by e-mail. A bad row raises InputError naming its position (from 1) and
        field, and nothing is written. Audited as `contacts.import`, counts only."""
        checked = [checked_input(row, f"row {n}: ", region) for n, row in enumerate(rows, start=1)]
        created = updated = 0
        with self._vault.transaction(actor=actor) as tx:
            session = tx.session
            for row in checked:
                now = datetime.now(UTC)
                contact = row_to_update(session, row)
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
            tx.audit(
                "contacts.import",
                "contact",
                None,
                details={"rows": len(checked), "created": created, "updated": updated},
            )
        return ImportResult(len(checked), created, updated)

    def find(
        self,
        *,
        account: str | None = None,
        query: str | None = None,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> list[ContactRecord]:
        """Contacts by name, optionally of one `account` (exact) or whose name, phone,
        e-mail or CRM id contains `query` (case-insensitive). Audited, counts only."""
        with self._vault.transaction(actor=actor, purpose=purpose) as tx:
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
            records = [ContactRecord.of(row) for row in tx.session.scalars(select_)]
            tx.audit(
                "contacts.read",
                "contact",
                None,
                details={
                    "count": len(records),
                    "by_account": account is not None,
                    "by_query": bool(query),
                },
            )
        return records

    def get(
        self, contact_id: str, *, actor: str | None = None, purpose: str | None = None
    ) -> ContactRecord:
        """One contact; audited as `contacts.read`."""
        with self._vault.transaction(actor=actor, purpose=purpose) as tx:
            record = ContactRecord.of(_contact_row(tx.session, contact_id))
            tx.audit("contacts.read", "contact", contact_id)
        return record

    def calls_of(
        self, contact_id: str, *, actor: str | None = None, purpose: str | None = None
    ) -> list[ContactCall]:
        """The calls the contact took part in, newest first; audited, ids and counts."""
        with self._vault.transaction(actor=actor, purpose=purpose) as tx:
            contact = _contact_row(tx.session, contact_id)
            calls = calls_of(tx.session, [contact])
            tx.audit(
                "contacts.read",
                "contact",
                contact_id,
                details={"calls": [c.call_id for c in calls]},
            )
        return calls

    def account_calls(
        self, account: str, *, actor: str | None = None, purpose: str | None = None
    ) -> tuple[list[ContactRecord], list[ContactCall]]:
        """The contacts of an account and the calls any of them took part in, newest
        first; NotFound when no contact belongs to it. Audited, ids and counts only."""
        with self._vault.transaction(actor=actor, purpose=purpose) as tx:
            rows = list(
                tx.session.scalars(
                    select(ContactRow)
                    .where(ContactRow.account == account)
                    .order_by(ContactRow.name, ContactRow.id)
                )
            )
            if rows:
                calls = calls_of(tx.session, rows)
                tx.audit(
                    "contacts.read",
                    "account",
                    None,
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

    def call_matches(
        self, call_id: str, *, actor: str | None = None, purpose: str | None = None
    ) -> dict[str, tuple[str, ...]]:
        """{participant id: ids of the contacts it matches} for one call; audited."""
        with self._vault.transaction(actor=actor, purpose=purpose) as tx:
            if tx.session.get(CallRow, call_id) is None:
                # The message of the vault's own lookups (Vault.get_call).
                raise NotFound(f"call {call_id} does not exist; `callvault list` shows the calls")
            out = contacts_of_participants(tx.session, call_id)
            tx.audit(
                "contacts.read",
                "call",
                call_id,
                details={"contacts": sorted({i for ids in out.values() for i in ids})},
            )
        return out
