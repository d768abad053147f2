"""The erasure ledger (issue 21): one signed entry per erasure, by ids only, in the
erasure's own transaction; checked offline with the public key alone."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import delete, update

from _audio import tone, wav_bytes
from callvault.capture import FileImportOptions, import_bytes
from callvault.errors import ErasureRefused, IntegrityError
from callvault.vault import LedgerEntry, Vault, verify_entries
from callvault.vault._models import ErasureLedgerRow

CALLER, CALLEE = "+14155550100", "+442071838750"
NAME = "Jane Doe"


def store(vault: Vault, seed: int = 0) -> str:
    opts = FileImportOptions(caller=CALLER, callee=CALLEE, started_at="2026-03-01T09:30:00Z")
    call = import_bytes(wav_bytes(tone(0.5, 8000, 2, seed), 8000), f"c{seed}.wav", opts)
    first, *rest = call.participants
    call = dataclasses.replace(call, participants=(dataclasses.replace(first, name=NAME), *rest))
    return vault.calls.store_call(call).call_id


def public_bytes(vault: Vault) -> bytes:
    return vault.signer.public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def assert_no_personal_data(entries: list[LedgerEntry]) -> None:
    text = json.dumps([e.to_json() for e in entries])
    for personal in (CALLER, CALLEE, NAME, CALLER[1:], "Jane"):
        assert personal not in text


def test_call_erasure_appends_one_call_entry(vault: Vault) -> None:
    call_id = store(vault)
    record = vault.calls.get_call(call_id)
    assert vault.ledger.entries() == [] and vault.ledger.head() == (0, "0" * 64)

    vault.calls.delete_call(call_id, reason="asked by Jane Doe +14155550100")

    (entry,) = vault.ledger.entries()
    assert (entry.seq, entry.kind, entry.key_id) == (1, "call", vault.signer.key_id)
    assert entry.body == {
        "call_id": call_id,
        "recording_ids": [record.recording.id],
        "blobs": [{"key": record.recording.id, "sha256": record.recording.ciphertext_sha256}],
        "data_keys": [record.recording.id],
    }
    assert vault.ledger.head() == (1, entry.hash)
    assert_no_personal_data(vault.ledger.entries())
    assert verify_entries(vault.ledger.entries(), public_bytes(vault)) == []
    assert vault.ledger.verify() == []


def test_retention_erasure_and_key_rotation_append_entries(vault: Vault) -> None:
    due, kept = store(vault, 0), store(vault, 1)
    vault.holds.set_retention(due, "short", datetime.now(UTC) - timedelta(days=1))
    old_kek = vault.keyring.current_id()

    vault.calls.delete_call(due, reason="retention", expired_by=datetime.now(UTC))
    rotation = vault.rotate_keys()

    entries = vault.ledger.entries()
    assert [(e.kind, e.body.get("call_id") or e.body.get("kek_id")) for e in entries] == [
        ("call", due),
        ("kek", old_kek),
    ]
    assert rotation.retired == (old_kek,)
    assert vault.calls.get_call(kept).id == kept
    assert verify_entries(entries, vault.signer) == []
    assert vault.ledger.entries(after_seq=1) == entries[1:]


def test_refused_erasure_leaves_no_entry(vault: Vault) -> None:
    call_id = store(vault)
    vault.holds.add_hold(call_id, reason="Smith v Acme")

    with pytest.raises(ErasureRefused):
        vault.calls.delete_call(call_id, reason="asked")

    assert vault.ledger.entries() == [] and vault.ledger.head() == (0, "0" * 64)


def test_several_calls_in_one_erasure_chain_in_order(vault: Vault) -> None:
    ids = [store(vault, n) for n in range(3)]
    vault.calls.delete_calls(ids, reason="subject request")
    vault.calls.delete_call(store(vault, 9), reason="another")

    entries = vault.ledger.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert [e.body["call_id"] for e in entries[:3]] == ids
    assert all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:], strict=False))
    # A copy travels as JSON and comes back whole.
    copy = [LedgerEntry.from_json(json.loads(json.dumps(e.to_json()))) for e in entries]
    assert copy == entries and verify_entries(copy, public_bytes(vault)) == []


def test_tampering_is_reported(vault: Vault) -> None:
    for n in range(3):
        vault.calls.delete_call(store(vault, n), reason="asked")
    entries = vault.ledger.entries()

    edited = dataclasses.replace(entries[1], body={**entries[1].body, "call_id": "f" * 32})
    assert verify_entries([entries[0], edited, entries[2]], vault.signer) == [
        "entry 2 was altered: its content does not match its hash"
    ]
    assert verify_entries([entries[0], entries[2]], vault.signer) == [
        "entry 3: the ledger jumps from entry 1 to entry 3"
    ]
    forged = dataclasses.replace(entries[2], signature="00" * 64)
    assert verify_entries([*entries[:2], forged], vault.signer) == [
        "entry 3: its signature is invalid"
    ]
    other = Vault.open(dataclasses.replace(vault.config, data_dir=vault.config.data_dir / "o"))
    with other:
        assert len(verify_entries(entries, other.signer)) == 3

    # In the database: an edited body, a deleted middle row, a cut end.
    with vault.engine.begin() as conn:
        conn.execute(
            update(ErasureLedgerRow).where(ErasureLedgerRow.seq == 1).values(body='{"x":1}')
        )
        conn.execute(delete(ErasureLedgerRow).where(ErasureLedgerRow.seq == 2))
    assert vault.ledger.verify() == [
        "entry 1 was altered: its content does not match its hash",
        "entry 3: the ledger jumps from entry 1 to entry 3",
    ]
    with vault.engine.begin() as conn:
        conn.execute(delete(ErasureLedgerRow).where(ErasureLedgerRow.seq == 3))
    assert vault.ledger.verify()[-1] == "entries 2..3 were removed from the end of the ledger"


def test_import_extends_skips_and_refuses_forks(vault: Vault) -> None:
    for n in range(2):
        vault.calls.delete_call(store(vault, n), reason="asked")
    entries = vault.ledger.entries()
    # The same vault's ledger again: nothing new.
    assert vault.ledger.import_entries(entries) == 0
    with pytest.raises(IntegrityError, match="entry 2 differs from the one stored here"):
        forked = vault.ledger.entries()[1]
        with vault.engine.begin() as conn:
            conn.execute(
                update(ErasureLedgerRow)
                .where(ErasureLedgerRow.seq == 2)
                .values(hash="e" * 64, prev_hash=forked.prev_hash)
            )
        vault.ledger.import_entries(entries)
    with pytest.raises(IntegrityError, match="does not verify, nothing was imported"):
        vault.ledger.import_entries([dataclasses.replace(entries[0], kind="call", at="x")])


def test_from_json_names_the_bad_field() -> None:
    with pytest.raises(Exception, match="field 'hash' is missing or not a str"):
        LedgerEntry.from_json({"seq": 1, "at": "t", "kind": "call", "body": {}, "prev_hash": ""})
