"""contacts from a CRM export

Revision ID: 0011
Revises: 0010

Adds the table ``contacts`` (``callvault.vault._contacts.ContactRow``): a name, an E.164
phone number and a lower-cased e-mail address (both indexed: participants are matched to
contacts by number), an account, and the CRM's id of the contact, unique where set.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("account", sa.String(length=256), nullable=True),
        sa.Column("crm_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("crm_id", name=op.f("uq_contacts_crm_id")),
    )
    op.create_index(op.f("ix_contacts_phone"), "contacts", ["phone"], unique=False)
    op.create_index(op.f("ix_contacts_email"), "contacts", ["email"], unique=False)
    op.create_index(op.f("ix_contacts_account"), "contacts", ["account"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_contacts_account"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_email"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_phone"), table_name="contacts")
    op.drop_table("contacts")
