"""Audit checkpoints and the check that the chain still extends them (issue 21), on SQLite
and PostgreSQL.

`rewrite_history` is the attack the anchors exist for: someone with the vault's signing
key edits an early entry, recomputes every later hash and signs a new head. The plain
chain check passes; the anchored checkpoint does not.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from _forge import add_entries, rewrite_history, truncate_history
from callvault.errors import AnchorError
from callvault.vault import AnchorFault, Checkpoint, Vault
from callvault.vault._audit import _head_message
from callvault.vault._models import AuditRow


def test_checkpoint_is_the_signed_head(vault: Vault) -> None:
    add_entries(vault, 3)
    checkpoint = vault.audit_checkpoint()
    last = vault.audit_entries()[-1]
    assert (checkpoint.seq, checkpoint.hash) == (last.seq, last.hash)
    assert checkpoint.key_id == vault.signer.key_id
    assert checkpoint.at.endswith("Z")
    assert checkpoint.message() == (
        f"callvault-audit-anchor:{last.seq}:{last.hash}:{checkpoint.at}".encode()
    )
    assert vault.signer.verify(checkpoint.message(), checkpoint.signature)
    # The head's own signature is over another message: neither stands in for the other.
    assert not vault.signer.verify(_head_message(last.seq, last.hash), checkpoint.signature)
    assert Checkpoint.from_json(checkpoint.to_json()) == checkpoint
    assert vault.check_anchors([checkpoint]) == []


def test_a_chain_that_grew_still_extends_its_checkpoints(vault: Vault) -> None:
    add_entries(vault, 2)
    first = vault.audit_checkpoint()
    add_entries(vault, 3, "y")
    second = vault.audit_checkpoint()
    assert second.seq == first.seq + 3
    assert vault.check_anchors([first, second]) == []


def test_a_rewrite_with_the_signing_key_is_caught(vault: Vault) -> None:
    add_entries(vault, 3)
    anchored = vault.audit_checkpoint()
    add_entries(vault, 2, "y")
    rewrite_history(vault, seq=2)
    assert vault.verify_audit().ok  # the plain check cannot see it
    faults = vault.check_anchors([anchored])
    assert [(f.seq, f.kind, f.checkpoint) for f in faults] == [
        (anchored.seq, "rewritten", anchored)
    ]
    assert faults[0].message == (
        f"the chain no longer extends the checkpoint of entry {anchored.seq} anchored at "
        f"{anchored.at}: entry {anchored.seq} has another hash (the history up to it was "
        "rewritten)"
    )


def test_a_rewrite_after_the_checkpoint_is_not_its_fault(vault: Vault) -> None:
    add_entries(vault, 2)
    anchored = vault.audit_checkpoint()
    add_entries(vault, 2, "y")
    rewrite_history(vault, seq=anchored.seq + 1)
    # Entries after the newest checkpoint are only as good as the signed head.
    assert vault.check_anchors([anchored]) == []


def test_truncation_below_a_checkpoint_is_caught(vault: Vault) -> None:
    add_entries(vault, 4)
    anchored = vault.audit_checkpoint()
    truncate_history(vault, keep=anchored.seq - 2)
    assert vault.verify_audit().ok
    (fault,) = vault.check_anchors([anchored])
    assert fault.kind == "truncated"
    assert fault.message == (
        f"the chain no longer extends the checkpoint of entry {anchored.seq} anchored at "
        f"{anchored.at}: it ends at entry {anchored.seq - 2} (entries were removed)"
    )


def test_a_forged_checkpoint_is_reported(vault: Vault) -> None:
    add_entries(vault, 2)
    real = vault.audit_checkpoint()
    forged = Checkpoint(real.seq, "f" * 64, real.at, real.key_id, real.signature)
    (fault,) = vault.check_anchors([forged])
    assert (fault.kind, fault.checkpoint) == ("forged", forged)
    assert "has an invalid signature" in fault.message
    other = Checkpoint(real.seq, real.hash, real.at, "ed25519:0000000000000000", real.signature)
    (fault,) = vault.check_anchors([other])
    assert fault.kind == "other-key"


def test_chain_faults_are_reported_as_well(vault: Vault) -> None:
    add_entries(vault, 3)
    anchored = vault.audit_checkpoint()
    with Session(vault.engine) as session, session.begin():
        row = session.scalars(select(AuditRow).where(AuditRow.seq == 1)).one()
        row.details = '{"edited":true}'
    faults = vault.check_anchors([anchored])
    assert faults == [
        AnchorFault(1, "chain", "entry 1 was altered: its content does not match its hash")
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "the checkpoint is not JSON"),
        (b"[]", "a checkpoint has exactly the fields seq, hash, at, key_id, signature"),
        (
            json.dumps({"seq": -1, "hash": "", "at": "", "key_id": "", "signature": ""}).encode(),
            "the checkpoint's seq is not a whole number >= 0",
        ),
        (
            json.dumps({"seq": 1, "hash": 1, "at": "", "key_id": "", "signature": ""}).encode(),
            "the checkpoint's hash, at, key_id and signature are strings",
        ),
    ],
)
def test_bad_checkpoint_json_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(AnchorError) as caught:
        Checkpoint.from_json(data)
    assert str(caught.value) == message
