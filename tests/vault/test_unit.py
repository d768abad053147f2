"""The unit of work: blobs in place before the rows commit, undone when anything fails."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from _audio import tone, wav_bytes
from callvault.capture import FileImportOptions, import_bytes
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


def _stored_call(vault: Vault) -> str:
    data = wav_bytes(tone(0.2, 8000, 2, 1), 8000)
    return vault.calls.store_call(import_bytes(data, "unit.wav", FileImportOptions())).call_id


def test_repository_writes_join_the_callers_unit(vault: Vault) -> None:
    """A repository's write given `tx` commits with the caller's other writes or not at
    all: a hold, a transcript and an erasure undone by a later failure leave no trace."""
    call_id = _stored_call(vault)
    blobs = set(vault.store.iter_keys())
    with pytest.raises(Boom), vault.transaction() as tx:
        vault.holds.add_hold(call_id, reason="case 1", tx=tx)
        vault.transcripts.store_transcript(
            call_id,
            b"{}",
            status="done",
            language="en",
            model_name="test",
            model_version="1",
            utterances=0,
            words=0,
            tx=tx,
        )
        raise Boom
    assert vault.holds.holds() == []
    assert vault.transcripts.transcript_info(call_id) is None
    assert set(vault.store.iter_keys()) == blobs
    with pytest.raises(Boom), vault.transaction() as tx:
        vault.calls.delete_call(call_id, reason="request", tx=tx)
        raise Boom
    assert vault.calls.get_call(call_id).id == call_id
    assert set(vault.store.iter_keys()) == blobs
    assert "call.erase" not in _actions(vault)
    with vault.transaction() as tx:
        certificate = vault.calls.delete_call(call_id, reason="request", tx=tx)
    assert not {b.key for b in certificate.blobs} & set(vault.store.iter_keys())
