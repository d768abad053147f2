"""The unit of work: blobs in place before the rows commit, undone when anything fails."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from callvault.vault import Vault
from callvault.vault._crypto import new_data_key
from callvault.vault._models import AuditRow


class Boom(Exception):
    pass


def _actions(vault: Vault) -> list[str]:
    with vault.reading() as session:
        return list(session.scalars(select(AuditRow.action).order_by(AuditRow.seq)))


def test_commit_places_blob_audits_and_deletes_replaced(vault: Vault) -> None:
    old = vault.store.begin_write("old-blob")
    old.write(b"x")
    old.commit()
    ran: list[str] = []
    with vault.transaction(actor="test:unit", purpose="testing") as tx:
        sealed = tx.seal("new-blob", new_data_key(), "new-blob", io.BytesIO(b"a" * 5000))
        # Staged, not yet visible.
        assert "new-blob" not in set(vault.store.iter_keys())
        tx.audit("unit.test", "blob", "new-blob", details={"n": 1})
        tx.delete_after_commit("old-blob")
        tx.after_commit(lambda: ran.append("hook"))
        assert ran == []
    keys = set(vault.store.iter_keys())
    assert "new-blob" in keys and "old-blob" not in keys
    assert sealed.size == 5000
    assert ran == ["hook"]
    assert _actions(vault)[-1] == "unit.test"
    entry = vault.audit_entries()[-1]
    assert entry.actor == "test:unit" and entry.purpose == "testing"


def test_failure_leaves_nothing_behind(vault: Vault) -> None:
    old = vault.store.begin_write("kept-blob")
    old.write(b"x")
    old.commit()
    before = _actions(vault)
    ran: list[str] = []
    with pytest.raises(Boom), vault.transaction() as tx:
        tx.seal("lost-blob", new_data_key(), "lost-blob", io.BytesIO(b"b" * 100))
        tx.audit("unit.test", "blob", "lost-blob")
        tx.delete_after_commit("kept-blob")
        tx.after_commit(lambda: ran.append("hook"))
        raise Boom
    keys = set(vault.store.iter_keys())
    assert "lost-blob" not in keys and "kept-blob" in keys
    assert _actions(vault) == before
    assert ran == []
    assert vault.store.sweep_incomplete() == 0
