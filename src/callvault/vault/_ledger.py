"""The erasure ledger: what every erasure destroyed, by ids only, replayed at restore.

Erasure is crypto-shredding: a data key row is deleted or overwritten and the blobs
deleted. A backup taken before brings all of that back, keys included. So every erasure
appends one entry here, in its own transaction (it can neither be lost while the
erasure commits nor recorded for one that rolled back), naming only ids, blob keys and
hashes, never personal data (issue 21). Kinds (`LEDGER_KINDS`):

- `call`: a whole call erased (`{call_id, recording_ids, blobs, data_keys}`);
- `rewrite`: a recording rewritten under a new data key (leg erasure, withdrawal cut,
  silencing, redaction): `{call_id, recording_id, blobs (the old ones), old_key (the
  SHA-256 of the old wrapped data key), participants (ids blanked)}`;
- `refusal`: a refusal's quarantined audio shredded (`{refusal_id, call_id, blobs,
  key_destroyed}`);
- `kek`: a key-encryption key destroyed (`{kek_id}`).

Entries are chained by SHA-256 like the audit log and each is signed with the vault's
Ed25519 key, so a copy kept in a backup is checked offline (`verify_entries`, with the
public key alone). At restore `LedgerRepository.replay` carries the entries made after
the backup out again on what the restored database holds, forcibly: holds, restrictions
and retention do not stop it, the erasure already happened lawfully.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session, SessionTransaction

from callvault.errors import InputError, IntegrityError
from callvault.vault import _calls, _refusals
from callvault.vault._crypto import Signer, unwrap_data_key, wrap_data_key
from callvault.vault._models import (
    DataKeyRow,
    ErasureLedgerHeadRow,
    ErasureLedgerRow,
    LiveCallRow,
    ParticipantRow,
    RecordingRow,
    RefusalRow,
)
from callvault.vault._repo import Repository

if TYPE_CHECKING:
    from callvault.vault._governance import ErasureCertificate
    from callvault.vault._unit import Transaction

__all__ = [
    "GENESIS",
    "LEDGER_KINDS",
    "REPLAY_ACTION",
    "LedgerEntry",
    "LedgerRepository",
    "ReplayReport",
    "append_deferred",
    "blob_list",
    "canonical",
    "defer",
    "defer_calls",
    "entry_hash",
    "key_hash",
    "verify_entries",
]

GENESIS = "0" * 64
LEDGER_KINDS = ("call", "rewrite", "refusal", "kek")
# The audit action of each replayed entry; its details are the certificate.
REPLAY_ACTION = "ledger.replay"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def canonical(body: Mapping[str, Any]) -> str:
    """The body as it is hashed and stored: JSON with sorted keys, compact."""
    return json.dumps(dict(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(seq: int, at: str, kind: str, body: str, prev_hash: str) -> str:
    text = json.dumps([seq, at, kind, body, prev_hash], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _message(seq: int, hash_: str) -> bytes:
    return f"callvault-erasure-ledger:{seq}:{hash_}".encode()


def key_hash(wrapped: bytes) -> str:
    """The public name of a destroyed wrapped data key: the SHA-256 of its bytes. A
    restored row whose wrapped key has this hash is the one destroyed."""
    return hashlib.sha256(wrapped).hexdigest()


@dataclass(frozen=True)
class LedgerEntry:
    """One entry of the ledger, as stored and as copied into a backup."""

    seq: int
    at: str
    kind: str
    body: Mapping[str, Any]
    prev_hash: str
    hash: str
    signature: str
    key_id: str

    @property
    def body_text(self) -> str:
        return canonical(self.body)

    def computed_hash(self) -> str:
        return entry_hash(self.seq, self.at, self.kind, self.body_text, self.prev_hash)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "kind": self.kind,
            "body": dict(self.body),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "signature": self.signature,
            "key_id": self.key_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LedgerEntry:
        """An entry from `to_json`'s dict; InputError naming what is wrong."""
        if not isinstance(data, Mapping):
            raise InputError("an erasure ledger entry is not a JSON object")
        fields = {
            "seq": int,
            "at": str,
            "kind": str,
            "body": dict,
            "prev_hash": str,
            "hash": str,
            "signature": str,
            "key_id": str,
        }
        for name, kind in fields.items():
            value = data.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise InputError(
                    f"erasure ledger entry {data.get('seq', '?')}: field {name!r} is missing "
                    f"or not a {kind.__name__}"
                )
        return cls(
            data["seq"],
            data["at"],
            data["kind"],
            data["body"],
            data["prev_hash"],
            data["hash"],
            data["signature"],
            data["key_id"],
        )

    @classmethod
    def _of_row(cls, row: ErasureLedgerRow) -> LedgerEntry:
        try:
            body = json.loads(row.body)
        except ValueError:
            body = {"unreadable": row.body}
        if not isinstance(body, dict):
            body = {"unreadable": row.body}
        return cls(
            row.seq, row.at, row.kind, body, row.prev_hash, row.hash, row.signature, row.key_id
        )


def _public_key(key: bytes | Ed25519PublicKey | Signer) -> Ed25519PublicKey:
    if isinstance(key, Signer):
        return key.public_key
    if isinstance(key, Ed25519PublicKey):
        return key
    if len(key) == 32:
        return Ed25519PublicKey.from_public_bytes(key)
    loaded = serialization.load_pem_public_key(key)
    if not isinstance(loaded, Ed25519PublicKey):
        raise InputError("the erasure ledger's public key is not an Ed25519 key")
    return loaded


def verify_entries(
    entries: Sequence[LedgerEntry],
    public_key: bytes | Ed25519PublicKey | Signer,
    *,
    start: tuple[int, str] | None = (0, GENESIS),
) -> list[str]:
    """Every place where `entries` (in order) do not hold: a gap in the numbers, an entry
    whose content does not match its hash, a broken link, a bad signature. Needs no
    database: a backup's copy is checked with the vault's public key (raw 32 bytes, PEM,
    the key or a `Signer`) alone. `start` is the (seq, hash) the first entry follows;
    None takes the first entry's link as given (a tail of the ledger)."""
    key = _public_key(public_key)
    faults: list[str] = []
    expected: tuple[int, str] | None = start
    for entry in entries:
        if expected is not None:
            seq, prev = expected
            if entry.seq != seq + 1:
                faults.append(
                    f"entry {entry.seq}: the ledger jumps from entry {seq} to entry {entry.seq}"
                    if entry.seq > seq + 1
                    else f"entry {entry.seq}: out of order after entry {seq}"
                )
            elif entry.prev_hash != prev:
                faults.append(
                    f"entry {entry.seq} does not link to entry {seq}: an entry was inserted, "
                    "replaced or removed here"
                )
        if entry.kind not in LEDGER_KINDS:
            faults.append(f"entry {entry.seq}: unknown kind {entry.kind!r}")
        if entry.computed_hash() != entry.hash:
            faults.append(f"entry {entry.seq} was altered: its content does not match its hash")
        else:
            try:
                key.verify(bytes.fromhex(entry.signature), _message(entry.seq, entry.hash))
            except (InvalidSignature, ValueError):
                faults.append(f"entry {entry.seq}: its signature is invalid")
        expected = (entry.seq, entry.hash)
    return faults


# -- appending, in the erasure's own transaction ---------------------------------------

_PENDING = "callvault.ledger.pending"


def defer(session: Session, signer: Signer, kind: str, body: Mapping[str, Any]) -> None:
    """Buffer an entry to be appended when `session` commits (the head is locked for
    the time of the append only); dropped when the transaction rolls back."""
    if kind not in LEDGER_KINDS:
        raise ValueError(f"unknown erasure ledger kind {kind!r}")
    pending: tuple[Signer, list[tuple[str, str]]] = session.info.setdefault(_PENDING, (signer, []))
    pending[1].append((kind, canonical(body)))


def blob_list(blobs: Iterable[tuple[str, str | None]]) -> list[dict[str, Any]]:
    """Blobs as an entry names them: key and ciphertext SHA-256."""
    return [{"key": key, "sha256": sha256} for key, sha256 in blobs]


def defer_calls(
    session: Session, signer: Signer, certificates: Sequence[ErasureCertificate]
) -> None:
    """One `call` entry per erased call."""
    for certificate in certificates:
        defer(
            session,
            signer,
            "call",
            {
                "call_id": certificate.call_id,
                "recording_ids": list(certificate.recording_ids),
                "blobs": blob_list((b.key, b.ciphertext_sha256) for b in certificate.blobs),
                "data_keys": [k.recording_id for k in certificate.data_keys],
            },
        )


def append_deferred(session: Session) -> int:
    """Append what `defer` buffered in `session`: the head locked, each entry signed."""
    pending: tuple[Signer, list[tuple[str, str]]] | None = session.info.pop(_PENDING, None)
    if pending is None or not pending[1]:
        return 0
    signer, items = pending
    head = _lock_head(session)
    seq, prev = head.seq, head.hash
    for kind, body in items:
        seq += 1
        at = _now()
        digest = entry_hash(seq, at, kind, body, prev)
        session.add(
            ErasureLedgerRow(
                seq=seq,
                at=at,
                kind=kind,
                body=body,
                prev_hash=prev,
                hash=digest,
                signature=signer.sign(_message(seq, digest)),
                key_id=signer.key_id,
            )
        )
        prev = digest
    head.seq, head.hash = seq, prev
    return len(items)


def _lock_head(session: Session) -> ErasureLedgerHeadRow:
    query = select(ErasureLedgerHeadRow).where(ErasureLedgerHeadRow.id == 1).with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).one()


@event.listens_for(Session, "before_commit")
def _append_before_commit(session: Session) -> None:
    # A safety net for a session committed by hand, not through `Vault._write`.
    if _PENDING in session.info:
        append_deferred(session)
        session.flush()


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


# -- replaying at restore ----------------------------------------------------------------


@dataclass(frozen=True)
class ReplayReport:
    """What a replay did: per kind, the objects it found and destroyed again."""

    entries: int
    imported: int
    erased_calls: tuple[str, ...] = ()
    rewritten_calls: tuple[str, ...] = ()  # already rewritten here: old blobs, names gone
    shredded_refusals: tuple[str, ...] = ()
    destroyed_keks: tuple[str, ...] = ()
    deleted_blobs: tuple[str, ...] = ()
    rewrapped_keys: int = 0
    not_found: int = 0  # entries that found nothing left to destroy
    certificates: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    @property
    def destroyed_anything(self) -> bool:
        return self.not_found < self.entries

    def to_json(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "imported": self.imported,
            "erased_calls": list(self.erased_calls),
            "rewritten_calls": list(self.rewritten_calls),
            "shredded_refusals": list(self.shredded_refusals),
            "destroyed_keks": list(self.destroyed_keks),
            "deleted_blobs": list(self.deleted_blobs),
            "rewrapped_keys": self.rewrapped_keys,
            "not_found": self.not_found,
            "certificates": [dict(c) for c in self.certificates],
        }


def _blob_keys(body: Mapping[str, Any]) -> list[str]:
    return [str(b["key"]) for b in body.get("blobs", ()) if isinstance(b, Mapping) and "key" in b]


class LedgerRepository(Repository):
    """The erasure ledger (`vault.ledger`): read it, import a newer copy, replay it."""

    def entries(self, after_seq: int = 0) -> list[LedgerEntry]:
        with self._read() as session:
            rows = session.scalars(
                select(ErasureLedgerRow)
                .where(ErasureLedgerRow.seq > after_seq)
                .order_by(ErasureLedgerRow.seq)
            )
            return [LedgerEntry._of_row(row) for row in rows]

    def head(self) -> tuple[int, str]:
        """The last entry's (seq, hash); (0, GENESIS) when the ledger is empty."""
        with self._read() as session:
            head = session.get(ErasureLedgerHeadRow, 1)
            return (head.seq, head.hash) if head is not None else (0, GENESIS)

    def verify(self) -> list[str]:
        """`verify_entries` over the whole stored ledger, and its end against the head."""
        entries = self.entries()
        faults = verify_entries(entries, self.signer)
        last = (entries[-1].seq, entries[-1].hash) if entries else (0, GENESIS)
        head = self.head()
        if head[0] > last[0]:
            faults.append(
                f"entries {last[0] + 1}..{head[0]} were removed from the end of the ledger"
            )
        elif head != last:
            faults.append(f"the ledger ends at entry {last[0]}, which does not match its head")
        return faults

    def import_entries(self, entries: Sequence[LedgerEntry]) -> int:
        """Append the entries of a newer copy that extend this ledger; returns how many.

        Entries already here are skipped; one with the seq of a stored entry but another
        hash is a fork (IntegrityError naming the seq), as is a gap. Signatures and links
        are checked first: nothing is imported from a damaged copy."""
        with self._write() as session:
            return self._import(session, entries)

    def _import(self, session: Session, entries: Sequence[LedgerEntry]) -> int:
        ordered = sorted(entries, key=lambda e: e.seq)
        faults = verify_entries(ordered, self.signer, start=None)
        if faults:
            raise IntegrityError(
                "the erasure ledger to import does not verify, nothing was imported: "
                + "; ".join(faults[:5])
            )
        head = _lock_head(session)
        stored: dict[int, str] = {}
        present = [e.seq for e in ordered if e.seq <= head.seq]
        for start in range(0, len(present), 500):
            chunk = present[start : start + 500]
            found = session.execute(
                select(ErasureLedgerRow.seq, ErasureLedgerRow.hash).where(
                    ErasureLedgerRow.seq.in_(chunk)
                )
            )
            stored.update((int(seq), str(hash_)) for seq, hash_ in found)
        added = 0
        for entry in ordered:
            if entry.seq <= head.seq:
                if stored.get(entry.seq, entry.hash) != entry.hash:
                    raise IntegrityError(
                        f"erasure ledger entry {entry.seq} differs from the one stored here: "
                        "the two ledgers have forked; nothing was imported"
                    )
                continue
            if entry.seq != head.seq + 1 or entry.prev_hash != head.hash:
                raise IntegrityError(
                    f"erasure ledger entry {entry.seq} does not follow entry {head.seq} "
                    "stored here; import the entries in between first"
                )
            session.add(
                ErasureLedgerRow(
                    seq=entry.seq,
                    at=entry.at,
                    kind=entry.kind,
                    body=entry.body_text,
                    prev_hash=entry.prev_hash,
                    hash=entry.hash,
                    signature=entry.signature,
                    key_id=entry.key_id,
                )
            )
            head.seq, head.hash = entry.seq, entry.hash
            added += 1
        return added

    def calls_to_erase(self, entries: Sequence[LedgerEntry]) -> list[str]:
        """The calls of this database that `replay(entries)` will erase whole (for the
        caller to purge their search rows first). Read only."""
        with self._read() as session:
            return sorted(self._plan(session, entries)[0])

    def _plan(
        self, session: Session, entries: Sequence[LedgerEntry]
    ) -> tuple[dict[str, str], set[int]]:
        """The calls to erase whole (call id -> why) and the seqs of the `rewrite`
        entries whose call is found here already rewritten."""
        wanted: dict[str, str] = {}
        call_ids = [str(e.body.get("call_id")) for e in entries if e.kind == "call"]
        found: set[str] = set()
        for start in range(0, len(call_ids), 500):
            chunk = call_ids[start : start + 500]
            found.update(
                session.scalars(select(RecordingRow.call_id).where(RecordingRow.call_id.in_(chunk)))
            )
        for call_id in call_ids:
            if call_id in found:
                wanted.setdefault(call_id, "erased after the backup was taken")
        rewritten: set[int] = set()
        for entry in entries:
            if entry.kind != "rewrite":
                continue
            recording = session.get(RecordingRow, str(entry.body.get("recording_id")))
            if recording is None:
                continue
            key = session.get(DataKeyRow, recording.id)
            old = recording.blob_key in _blob_keys(entry.body) or (
                key is not None and key_hash(key.wrapped) == entry.body.get("old_key")
            )
            if old:
                wanted.setdefault(
                    recording.call_id,
                    "rewritten after the backup was taken; the rewritten audio is not in "
                    "this backup, so the call is erased whole",
                )
            else:
                rewritten.add(entry.seq)
        return wanted, rewritten

    def replay(
        self, entries: Sequence[LedgerEntry], *, actor: str, tx: Transaction | None = None
    ) -> ReplayReport:
        """Carry out again, on what this database holds, the erasures `entries` record
        (those made after the backup it was restored from), and import the entries.

        Forcibly: holds, restrictions and retention do not stop it. Each entry gets one
        `ledger.replay` audit entry, its details a certificate of what was found and
        destroyed. A second replay finds nothing and says so. With `tx`, in the caller's
        unit of work (the jobs of the erased calls cancelled in the same commit)."""
        ordered = sorted(entries, key=lambda e: e.seq)
        with self._unit(tx, actor=actor) as unit:
            session = unit.session
            imported = self._import(session, ordered)
            wanted, rewritten = self._plan(session, ordered)
            calls = _calls.lock_calls(session, sorted(wanted))
            doomed: dict[str, None] = {}
            for start in range(0, len(calls), 500):
                chunk = sorted(calls)[start : start + 500]
                # A refusal's quarantined audio goes with its call's rows (CASCADE): its
                # blob must go too. The live board's rows of these calls go with them.
                quarantined = session.scalars(
                    select(RefusalRow.quarantine_key).where(
                        RefusalRow.call_id.in_(chunk), RefusalRow.quarantine_key.is_not(None)
                    )
                )
                doomed.update((str(key), None) for key in quarantined)
                session.execute(delete(LiveCallRow).where(LiveCallRow.call_id.in_(chunk)))
            certificates = _calls.destroy_calls(session, [calls[i] for i in sorted(calls)])
            by_call = {c.call_id: c for c in certificates}
            for certificate in certificates:
                doomed.update((b.key, None) for b in certificate.blobs)
            report_certs: list[Mapping[str, Any]] = []
            shredded: list[str] = []
            kept_rewrites: list[str] = []
            retire: list[str] = []
            # The keys wrapped the data keys destroyed here: the backup this database came
            # from still holds those wrapped keys, so they are retired too (below).
            shredded_under = {k.kek_id for c in certificates for k in c.data_keys if k.kek_id}
            not_found = 0
            for entry in ordered:
                body = entry.body
                named = [k for k in _blob_keys(body) if self._present(k)]
                doomed.update((k, None) for k in named)
                destroyed: dict[str, Any] = {"blobs": named}
                found = bool(named)
                object_type, object_id = "call", str(body.get("call_id", ""))
                if entry.kind in ("call", "rewrite"):
                    erased = by_call.get(object_id)
                    if erased is not None:
                        found = True
                        destroyed["call"] = erased.to_json()
                        destroyed["why"] = wanted[object_id]
                        by_call.pop(object_id)
                    elif entry.kind == "rewrite" and entry.seq in rewritten:
                        blanked = self._blank(session, body)
                        found = found or bool(blanked)
                        destroyed["participants"] = blanked
                        kept_rewrites.append(object_id)
                elif entry.kind == "refusal":
                    object_type, object_id = "refusal", str(body.get("refusal_id", ""))
                    row = session.get(RefusalRow, object_id)
                    if row is not None and (
                        row.quarantine_key is not None
                        or (body.get("key_destroyed", True) and row.wrapped is not None)
                    ):
                        found = True
                        if row.kek_id is not None and body.get("key_destroyed", True):
                            shredded_under.add(row.kek_id)
                        if row.quarantine_key is not None:
                            doomed[row.quarantine_key] = None
                        destroyed["refusal"] = _refusals.shred_row(
                            row, keep_words=not body.get("key_destroyed", True)
                        )
                        shredded.append(object_id)
                elif entry.kind == "kek":
                    object_type, object_id = "keyring", str(body.get("kek_id", ""))
                    if object_id in self.keyring.key_ids():
                        found = True
                        retire.append(object_id)
                        destroyed["kek"] = object_id
                not_found += not found
                certificate_json = {
                    "ledger_seq": entry.seq,
                    "kind": entry.kind,
                    "found": found,
                    "destroyed": destroyed,
                }
                report_certs.append(certificate_json)
                unit.audit(
                    REPLAY_ACTION,
                    object_type,
                    object_id,
                    details=certificate_json,
                    actor=actor,
                    purpose="erasure ledger replayed at restore",
                )
            present = set(self.keyring.key_ids())
            retiring = [
                k for k in dict.fromkeys([*retire, *sorted(shredded_under)]) if k in present
            ]
            rewrapped = 0
            if retiring:
                new_id, rewrapped = self._retire_keks(session, unit, retiring)
                unit.audit(
                    "keys.rotate",
                    "keyring",
                    new_id,
                    details={
                        "rewrapped": rewrapped,
                        "retired": retiring,
                        "why": "erasure ledger replayed at restore: the backup still holds "
                        "the destroyed data keys wrapped under the retired keys",
                    },
                    actor=actor,
                )
            for key in doomed:
                unit.delete_after_commit(key)
            unit.after_commit(self._checkpoint)
        return ReplayReport(
            entries=len(ordered),
            imported=imported,
            erased_calls=tuple(c.call_id for c in certificates),
            rewritten_calls=tuple(dict.fromkeys(kept_rewrites)),
            shredded_refusals=tuple(shredded),
            destroyed_keks=tuple(retiring),
            deleted_blobs=tuple(doomed),
            rewrapped_keys=rewrapped,
            not_found=not_found,
            certificates=tuple(report_certs),
        )

    def _present(self, key: str) -> bool:
        try:
            self.store.size(key)
        except FileNotFoundError:
            return False
        return True

    @staticmethod
    def _blank(session: Session, body: Mapping[str, Any]) -> list[str]:
        """Blank the participants a rewrite blanked, where a restore brought them back."""
        ids = [str(p) for p in body.get("participants", ())]
        blanked = []
        for participant in session.scalars(
            select(ParticipantRow).where(ParticipantRow.id.in_(ids))
        ):
            if participant.phone is not None or participant.name is not None:
                participant.phone = participant.name = None
                blanked.append(participant.id)
        return blanked

    def _retire_keks(
        self, session: Session, unit: Transaction, retire: Sequence[str]
    ) -> tuple[str, int]:
        """Re-wrap every data key wrapped under one of `retire` under a new KEK and, once
        committed, make it current and destroy `retire` (as `Vault.rotate_keys`, for the
        keys a replay retires); returns the new KEK's id and how many keys were re-wrapped."""
        new_id = self.keyring.create_key()
        new_key = self.keyring.key(new_id)
        count = 0
        for row in session.scalars(select(DataKeyRow).where(DataKeyRow.kek_id.in_(retire))):
            dek = unwrap_data_key(
                self.keyring.key(row.kek_id), row.kek_id, row.recording_id, row.wrapped
            )
            row.wrapped = wrap_data_key(new_key, new_id, row.recording_id, dek)
            row.kek_id = new_id
            count += 1
        count += self.vault.refusals.rewrap(session, new_key, new_id, only=retire)
        count += self.vault.outcomes.rewrap(session, new_key, new_id, only=retire)

        def destroy() -> None:
            self.keyring.set_current(new_id)
            for kek_id in retire:
                self.keyring.destroy(kek_id)

        unit.after_commit(destroy)
        return new_id, count
