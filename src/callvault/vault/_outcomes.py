"""Outcomes of calls, contacts and deals, and the trained outcome model (issue 22).

`vault.outcomes` (an `OutcomeRepository`) keeps one row per recorded outcome
(`OutcomeRow`, migration 0021): for a call, a contact or a deal (an opaque CRM id), the
outcome, who recorded it, when and from where. A row goes with its call and with its
contact (ON DELETE CASCADE), so erasing either takes its outcomes along. Every write and
read is audited with ids only; a note is never put in the audit chain.

The trained model (`OutcomeModelRow`) is JSON sealed with AES-GCM under its own data
key, wrapped by the key ring like a recording's key (bound to `outcome-model:{id}`); a
model's key is re-wrapped when the keys rotate (`rewrap`); one whose key-encryption key
was destroyed otherwise reads as absent and is trained again.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import ForeignKey, LargeBinary, String, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from callvault.errors import CallvaultError, InputError, NotFound
from callvault.vault._crypto import new_data_key, unwrap_data_key, wrap_data_key
from callvault.vault._models import Base, CallRow, UTCDateTime
from callvault.vault._repo import Repository
from callvault.vault._unit import Transaction

__all__ = [
    "OUTCOME_SOURCES",
    "OUTCOME_VALUES",
    "OutcomeInput",
    "OutcomeModelRow",
    "OutcomeRecord",
    "OutcomeRepository",
    "OutcomeRow",
]

OUTCOME_VALUES = ("won", "lost", "churned", "resolved", "open")
OUTCOME_SOURCES = ("cli", "api", "csv", "crm")
NOTE_LIMIT = 500
DEAL_LIMIT = 128


class OutcomeRow(Base):
    """An outcome recorded for a call, a contact or a deal (migration 0021)."""

    __tablename__ = "outcomes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_id: Mapped[str | None] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), index=True
    )
    # The contacts table is declared by the contacts package (on this Base); the key is
    # resolved by name, so the vault does not import it.
    contact_id: Mapped[str | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    deal: Mapped[str | None] = mapped_column(String(DEAL_LIMIT), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(String(NOTE_LIMIT))


class OutcomeModelRow(Base):
    """A trained outcome model, sealed (migration 0021)."""

    __tablename__ = "outcome_models"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime())
    trained_by: Mapped[str] = mapped_column(String(128))
    kek_id: Mapped[str] = mapped_column(String(32))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    body: Mapped[bytes] = mapped_column(LargeBinary)


@dataclass(frozen=True)
class OutcomeInput:
    """What to record: at least one of `call_id`, `contact_id`, `deal`."""

    outcome: str
    call_id: str | None = None
    contact_id: str | None = None
    deal: str | None = None
    note: str | None = None
    recorded_at: datetime | None = None


@dataclass(frozen=True)
class OutcomeRecord:
    id: str
    call_id: str | None
    contact_id: str | None
    deal: str | None
    outcome: str
    recorded_at: datetime
    recorded_by: str
    source: str
    note: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "call_id": self.call_id,
            "contact_id": self.contact_id,
            "deal": self.deal,
            "outcome": self.outcome,
            "recorded_at": self.recorded_at.isoformat(),
            "recorded_by": self.recorded_by,
            "source": self.source,
            "note": self.note,
        }


def _record_of(row: OutcomeRow) -> OutcomeRecord:
    return OutcomeRecord(
        row.id, row.call_id, row.contact_id, row.deal, row.outcome, row.recorded_at,
        row.recorded_by, row.source, row.note,
    )  # fmt: skip


def _model_object(model_id: str) -> str:
    return f"outcome-model:{model_id}"


def check_outcome(item: OutcomeInput, source: str, where: str = "") -> None:
    """InputError naming the field when `item` cannot be recorded as given."""
    if item.outcome not in OUTCOME_VALUES:
        raise InputError(
            f"{where}outcome {item.outcome!r} is not one of {', '.join(OUTCOME_VALUES)}"
        )
    if source not in OUTCOME_SOURCES:
        raise InputError(f"{where}source {source!r} is not one of {', '.join(OUTCOME_SOURCES)}")
    if item.call_id is None and item.contact_id is None and not item.deal:
        raise InputError(f"{where}an outcome needs a call id, a contact id or a deal")
    if item.deal is not None and not 0 < len(item.deal) <= DEAL_LIMIT:
        raise InputError(f"{where}deal must be 1 to {DEAL_LIMIT} characters")
    if item.note is not None and len(item.note) > NOTE_LIMIT:
        raise InputError(f"{where}note is longer than {NOTE_LIMIT} characters")


class OutcomeRepository(Repository):
    """Outcomes (`vault.outcomes`) and the sealed outcome model."""

    def record(
        self,
        items: Sequence[OutcomeInput],
        *,
        source: str,
        actor: str | None = None,
        tx: Transaction | None = None,
    ) -> list[OutcomeRecord]:
        """Record outcomes, all or none (one unit of work). A call or contact that does
        not exist is NotFound naming its position (from 1) when there are several.
        Audited as `outcome.record`, one entry per row, ids only."""
        many = len(items) > 1
        for n, item in enumerate(items, start=1):
            check_outcome(item, source, f"row {n}: " if many else "")
        out = []
        with self._unit(tx, actor=actor) as unit:
            session = unit.session
            who = actor or self.config.actor
            for n, item in enumerate(items, start=1):
                where = f"row {n}: " if many else ""
                if item.call_id is not None and session.get(CallRow, item.call_id) is None:
                    raise NotFound(f"{where}call {item.call_id} does not exist")
                if item.contact_id is not None and not _contact_exists(session, item.contact_id):
                    raise NotFound(f"{where}contact {item.contact_id} does not exist")
                row = OutcomeRow(
                    id=uuid.uuid4().hex,
                    call_id=item.call_id,
                    contact_id=item.contact_id,
                    deal=item.deal,
                    outcome=item.outcome,
                    recorded_at=item.recorded_at or datetime.now(UTC),
                    recorded_by=who,
                    source=source,
                    note=item.note,
                )
                session.add(row)
                unit.audit(
                    "outcome.record",
                    "outcome",
                    row.id,
                    details={
                        "call_id": row.call_id,
                        "contact_id": row.contact_id,
                        "outcome": row.outcome,
                        "source": source,
                    },
                )
                out.append(_record_of(row))
            session.flush()
        return out

    def find(
        self,
        *,
        call_id: str | None = None,
        contact_id: str | None = None,
        deal: str | None = None,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> list[OutcomeRecord]:
        """Outcomes, oldest first, optionally of one call, contact or deal; audited as
        `outcome.read` with the count."""
        query = select(OutcomeRow).order_by(OutcomeRow.recorded_at, OutcomeRow.id)
        if call_id is not None:
            query = query.where(OutcomeRow.call_id == call_id)
        if contact_id is not None:
            query = query.where(OutcomeRow.contact_id == contact_id)
        if deal is not None:
            query = query.where(OutcomeRow.deal == deal)
        with self.vault.transaction(actor=actor, purpose=purpose) as tx:
            records = [_record_of(r) for r in tx.session.scalars(query)]
            tx.audit("outcome.read", "outcome", None, details={"count": len(records)})
        return records

    def store_model(self, body: bytes, *, actor: str | None = None) -> str:
        """Seal and keep a trained model (JSON); returns its id. Audited."""
        model_id = uuid.uuid4().hex
        dek = new_data_key()
        nonce = os.urandom(12)
        sealed = nonce + AESGCM(dek).encrypt(nonce, body, _model_object(model_id).encode())
        kek_id = self.keyring.current_id()
        wrapped = wrap_data_key(self.keyring.key(kek_id), kek_id, _model_object(model_id), dek)
        with self.vault.transaction(actor=actor) as tx:
            tx.session.add(
                OutcomeModelRow(
                    id=model_id,
                    trained_at=datetime.now(UTC),
                    trained_by=actor or self.config.actor,
                    kek_id=kek_id,
                    wrapped=wrapped,
                    body=sealed,
                )
            )
            tx.audit("outcome_model.store", "outcome_model", model_id)
        return model_id

    def load_model(
        self, *, actor: str | None = None, purpose: str | None = None
    ) -> tuple[str, bytes] | None:
        """(id, JSON) of the newest trained model, or None when there is none or its
        key is gone. Audited as `outcome_model.read`."""
        with self.vault.transaction(actor=actor, purpose=purpose) as tx:
            row = tx.session.scalars(
                select(OutcomeModelRow).order_by(OutcomeModelRow.trained_at.desc()).limit(1)
            ).first()
            if row is None:
                return None
            tx.audit("outcome_model.read", "outcome_model", row.id)
            model_id, kek_id, wrapped, sealed = row.id, row.kek_id, row.wrapped, row.body
        try:
            dek = unwrap_data_key(
                self.keyring.key(kek_id), kek_id, _model_object(model_id), wrapped
            )
        except CallvaultError:
            return None
        body = AESGCM(dek).decrypt(sealed[:12], sealed[12:], _model_object(model_id).encode())
        return model_id, body

    def rewrap(
        self, session: Session, new_key: bytes, new_id: str, *, only: Sequence[str] = ()
    ) -> int:
        """Within `rotate_keys` (and a replay's retirement of KEKs): re-wrap every model's
        key under the new KEK (with `only`, those wrapped under one of these KEKs)."""
        count = 0
        query = select(OutcomeModelRow)
        if only:
            query = query.where(OutcomeModelRow.kek_id.in_(list(only)))
        for row in session.scalars(query):
            name = _model_object(row.id)
            dek = unwrap_data_key(self.keyring.key(row.kek_id), row.kek_id, name, row.wrapped)
            row.wrapped = wrap_data_key(new_key, new_id, name, dek)
            row.kek_id = new_id
            count += 1
        return count


def _contact_exists(session: Session, contact_id: str) -> bool:
    found = session.execute(text("SELECT 1 FROM contacts WHERE id = :id"), {"id": contact_id})
    return found.first() is not None
