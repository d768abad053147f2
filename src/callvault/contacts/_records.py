"""The records of contacts: what an import takes and returns, a contact, a call of one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callvault.contacts._models import ContactRow

__all__ = ["ContactCall", "ContactInput", "ContactRecord", "ImportResult"]


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
