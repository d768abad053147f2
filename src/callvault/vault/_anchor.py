"""Audit checkpoints to anchor outside the vault, and the check that the chain extends them.

The signed head (`_audit`) proves nothing against someone who holds the signing key on
the same disk: they can edit an entry, recompute every later hash and sign a new head
(issue 21). A checkpoint is the head at one moment (seq, hash, time), signed with a
message of its own (`callvault-audit-anchor:...`, so a head signature is never taken for
a checkpoint's), and written by `services.anchors` to a place the vault cannot rewrite.
`check_anchors` then proves that today's chain still has, at each anchored seq, exactly
the anchored hash: a history rewritten with the key changes that hash and is caught.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callvault.errors import AnchorError
from callvault.vault import _audit
from callvault.vault._crypto import Signer
from callvault.vault._models import AuditHeadRow, AuditRow

__all__ = ["ANCHOR_DOMAIN", "AnchorFault", "Checkpoint", "check_anchors", "make_checkpoint"]

# Domain separation: the checkpoint's signature can never be replayed as the head's
# (`callvault-audit-head:`), nor the other way round.
ANCHOR_DOMAIN = "callvault-audit-anchor"
_FIELDS = ("seq", "hash", "at", "key_id", "signature")


@dataclass(frozen=True)
class Checkpoint:
    """The audit chain's head at `at` (ISO 8601 UTC), signed by the vault key `key_id`."""

    seq: int
    hash: str
    at: str
    key_id: str
    signature: str

    def message(self) -> bytes:
        """The bytes the signature covers."""
        return f"{ANCHOR_DOMAIN}:{self.seq}:{self.hash}:{self.at}".encode()

    def to_json(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces): the bytes a timestamp authority signs."""
        body = {name: getattr(self, name) for name in _FIELDS}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Checkpoint:
        try:
            body: Any = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise AnchorError("the checkpoint is not JSON") from None
        if not isinstance(body, dict) or set(body) != set(_FIELDS):
            raise AnchorError(f"a checkpoint has exactly the fields {', '.join(_FIELDS)}")
        seq = body["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise AnchorError("the checkpoint's seq is not a whole number >= 0")
        if not all(isinstance(body[name], str) for name in _FIELDS[1:]):
            raise AnchorError("the checkpoint's hash, at, key_id and signature are strings")
        return cls(seq, body["hash"], body["at"], body["key_id"], body["signature"])

    @property
    def label(self) -> str:
        """How a message names this checkpoint."""
        return f"the checkpoint of entry {self.seq} anchored at {self.at}"


@dataclass(frozen=True)
class AnchorFault:
    """One way the chain fails an anchored checkpoint (`checkpoint`), or fails the
    ordinary chain check (`checkpoint` None, `kind` "chain")."""

    seq: int
    kind: str  # forged | other-key | rewritten | truncated | missing | chain
    message: str
    checkpoint: Checkpoint | None = None


def make_checkpoint(session: Session, signer: Signer) -> Checkpoint:
    """A signed checkpoint of the chain's current head."""
    head = session.scalars(select(AuditHeadRow).where(AuditHeadRow.id == 1)).one_or_none()
    seq, hash_ = (head.seq, head.hash) if head is not None else (0, _audit.GENESIS)
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    unsigned = Checkpoint(seq, hash_, at, signer.key_id, "")
    return Checkpoint(seq, hash_, at, signer.key_id, signer.sign(unsigned.message()))


def _check_one(
    session: Session, signer: Signer, checkpoint: Checkpoint, last: int
) -> AnchorFault | None:
    cp = checkpoint
    if cp.key_id != signer.key_id:
        return AnchorFault(
            cp.seq,
            "other-key",
            f"{cp.label} was signed by key {cp.key_id}, not by this vault's key {signer.key_id}",
            cp,
        )
    if not signer.verify(cp.message(), cp.signature):
        return AnchorFault(
            cp.seq, "forged", f"{cp.label} has an invalid signature: it is forged or damaged", cp
        )
    if cp.seq == 0:
        if cp.hash != _audit.GENESIS:
            return AnchorFault(0, "rewritten", f"{cp.label} does not name the empty chain", cp)
        return None
    if cp.seq > last:
        return AnchorFault(
            cp.seq,
            "truncated",
            f"the chain no longer extends {cp.label}: it ends at entry {last} "
            "(entries were removed)",
            cp,
        )
    found = session.scalars(select(AuditRow.hash).where(AuditRow.seq == cp.seq)).one_or_none()
    if found is None:
        return AnchorFault(
            cp.seq,
            "missing",
            f"the chain no longer extends {cp.label}: entry {cp.seq} is missing",
            cp,
        )
    if found != cp.hash:
        return AnchorFault(
            cp.seq,
            "rewritten",
            f"the chain no longer extends {cp.label}: entry {cp.seq} has another hash "
            "(the history up to it was rewritten)",
            cp,
        )
    return None


def check_anchors(
    session: Session, checkpoints: Sequence[Checkpoint], signer: Signer
) -> list[AnchorFault]:
    """Every fault of the chain against `checkpoints` (signature under the vault's key,
    the entry at each checkpoint's seq present with exactly its hash, the chain not
    shorter), then every fault of the ordinary chain check, as `kind` "chain"."""
    last = session.scalar(select(func.max(AuditRow.seq))) or 0
    found = [
        fault for cp in checkpoints if (fault := _check_one(session, signer, cp, last)) is not None
    ]
    report = _audit.verify(session, signer)
    found.extend(AnchorFault(f.seq, "chain", f.message) for f in report.faults)
    return found
