"""The contacts table (migration 0011), declared on the storage core's `Base` so that the
schema the migrations build and the models compare equal."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from callvault.vault import Base, UTCDateTime

__all__ = ["ContactRow"]


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
