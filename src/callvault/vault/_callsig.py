"""Call metadata under signature: who may read a call cannot be changed unseen (issue 17).

What decides who may read a call lives in plain rows: its agent (and through them a
team), its participants and legs, its consent state and per-call consents, its retention
date, the legal holds and restrictions that cover it. Each call has one row in
`call_signatures`: for every such field a keyed digest of its value, and the vault's
Ed25519 signature of those digests. `check` recomputes the digests from the rows and
names every field that no longer matches, so a row edited outside callvault (an agent
changed to move a call into another rep's reach, a number changed, a hold deleted) is
found by `callvault verify`.

Legitimate changes are signed again without any caller asking: `track` hooks the
vault's write sessions, notes before each flush which calls the changed rows belong to
(a subject hold or restriction: every call of a participant it matches; a user's team:
the calls of which they are the agent) and re-signs those calls just before the commit,
inside the same transaction. A change made with the vault's code can therefore not
commit unsigned; one made beside it (SQL, another program) is not signed.

The digests are HMAC-SHA256 under a secret only the signing key yields, so the table
holds no number or name and a database copy cannot test guesses against it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import column, event, func, inspect, or_, select, table
from sqlalchemy.orm import Session

from callvault.vault import _audit
from callvault.vault._crypto import Signer
from callvault.vault._models import (
    CallRow,
    CallSignatureRow,
    ConsentRow,
    LegalHoldRow,
    LegRow,
    ParticipantRow,
    RestrictionRow,
)

__all__ = [
    "BACKFILL_ACTION",
    "SIGNED_VERSION",
    "PENDING",
    "check",
    "facts",
    "has_pending",
    "sign_pending",
    "track",
]

# The users table belongs to `callvault.accounts`, which builds on the vault: the vault
# reads the one column that gives a call's agent a team by the table's name, unimported.
_USERS = table("users", column("username"), column("team"))

SIGNED_VERSION = "callvault.call-access/1"
# The version of the rows migration 0014 adds for the calls it finds, to be signed.
PENDING = "pending"
# The one audit entry that signs the calls stored before migration 0014.
BACKFILL_ACTION = "vault.metadata-sign"

# session.info keys: the signer of a vault write session, and what it must re-sign.
_SIGNER = "callvault.callsig.signer"
_CALLS = "callvault.callsig.calls"
_SUBJECTS = "callvault.callsig.subjects"
_AGENTS = "callvault.callsig.agents"

_CALL_FIELDS = (
    "agent",
    "consent_state",
    "quarantine_until",
    "retention_class",
    "retain_until",
    "erasure_state",
)
_PARTICIPANT_FIELDS = ("position", "role", "phone", "name", "is_agent")
_LEG_FIELDS = ("recording_id", "channel", "participant_id")
_CONSENT_FIELDS = ("participant", "scopes", "given_at", "withdrawn_at")
_HOLD_FIELDS = ("call_id", "subject_id", "released_at")
_RESTRICTION_FIELDS = ("subject_id", "lifted_at")

_keys: dict[str, bytes] = {}


def _digest_key(signer: Signer) -> bytes:
    """The HMAC key of the digests. Ed25519 signatures are deterministic, so the
    signature of a fixed label that is never signed anywhere else is a secret only the
    private key yields, and the same on every run (RFC 8032, section 5.1.6)."""
    key = _keys.get(signer.key_id)
    if key is None:
        label = f"{SIGNED_VERSION} digest key".encode()
        key = hashlib.sha256(bytes.fromhex(signer.sign(label))).digest()
        _keys[signer.key_id] = key
    return key


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def _rows(session: Session, model: type[Any], *where: Any) -> list[Any]:
    return list(session.scalars(select(model).where(*where).order_by(model.id)))


def facts(session: Session, call: CallRow) -> dict[str, Any]:
    """{field: value} of everything that decides who may read `call`, each field named
    as `table.column` or `table[row id].column`."""
    out: dict[str, Any] = {f"calls.{name}": _value(getattr(call, name)) for name in _CALL_FIELDS}
    team = None
    if call.agent is not None:
        team = session.scalars(
            select(_USERS.c.team).where(_USERS.c.username == call.agent.strip().lower())
        ).first()
    out["users.team (of calls.agent)"] = team
    participants = _rows(session, ParticipantRow, ParticipantRow.call_id == call.id)
    for row in participants:
        for name in _PARTICIPANT_FIELDS:
            out[f"participants[{row.id}].{name}"] = _value(getattr(row, name))
    for row in _rows(session, LegRow, LegRow.call_id == call.id):
        for name in _LEG_FIELDS:
            out[f"legs[{row.id}].{name}"] = _value(getattr(row, name))
    for row in _rows(session, ConsentRow, ConsentRow.call_id == call.id):
        for name in _CONSENT_FIELDS:
            out[f"consents[{row.id}].{name}"] = _value(getattr(row, name))
    phones = sorted({p.phone for p in participants if p.phone is not None})
    names = sorted({p.name for p in participants if p.name is not None})
    lowered = sorted({n.lower() for n in names})
    # Holds match a subject by exact number or name, restrictions by number or by name
    # in any case (`_governance.active_holds`, `_governance.subject_match`).
    hold_match = [LegalHoldRow.call_id == call.id]
    if phones or names:
        hold_match.append(LegalHoldRow.subject_id.in_(phones + names))
    for row in _rows(session, LegalHoldRow, or_(*hold_match)):
        for name in _HOLD_FIELDS:
            out[f"legal_holds[{row.id}].{name}"] = _value(getattr(row, name))
    if phones or lowered:
        match = or_(
            RestrictionRow.subject_id.in_(phones),
            func.lower(RestrictionRow.subject_id).in_(lowered),
        )
        for row in _rows(session, RestrictionRow, match):
            for name in _RESTRICTION_FIELDS:
                out[f"restrictions[{row.id}].{name}"] = _value(getattr(row, name))
    return out


def _digests(signer: Signer, call_id: str, values: dict[str, Any]) -> dict[str, str]:
    key = _digest_key(signer)
    return {
        name: hmac.new(
            key,
            json.dumps([call_id, name, value], separators=(",", ":")).encode(),
            hashlib.sha256,
        ).hexdigest()
        for name, value in values.items()
    }


def _body(call_id: str, digests: dict[str, str]) -> bytes:
    """The exact bytes that are signed: sorted keys, no whitespace, UTF-8."""
    document = {"version": SIGNED_VERSION, "call_id": call_id, "fields": digests}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def sign(session: Session, signer: Signer, call: CallRow) -> None:
    """Write (or replace) the signed access metadata of `call` within `session`."""
    body = _body(call.id, _digests(signer, call.id, facts(session, call)))
    row = session.get(CallSignatureRow, call.id)
    if row is None:
        row = CallSignatureRow(call_id=call.id)
        session.add(row)
    row.version = SIGNED_VERSION
    row.body = body.decode()
    row.signature = signer.sign(body)
    row.key_id = signer.key_id
    row.signed_at = datetime.now(UTC)


def check(session: Session, signer: Signer, call: CallRow) -> list[str]:
    """Faults of a call's access metadata: unsigned, forged, or a field of the database
    that is not what was signed (each such field named)."""
    cid = call.id
    row = session.get(CallSignatureRow, cid)
    if row is None:
        return [f"call {cid}: its metadata signature is missing (call_signatures)"]
    if row.version == PENDING:
        return [f"call {cid}: its metadata is not signed yet (open the vault to sign it)"]
    if not signer.verify(row.body.encode(), row.signature):
        return [
            f"call {cid}: the signature of its metadata does not verify (call_signatures "
            "was changed)"
        ]
    try:
        document = json.loads(row.body)
        signed = dict(document["fields"])
        if document["call_id"] != cid or document["version"] != SIGNED_VERSION:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        return [f"call {cid}: its metadata signature is unreadable"]
    now = _digests(signer, cid, facts(session, call))
    faults = []
    for name in sorted(signed.keys() | now.keys()):
        if name not in now:
            faults.append(
                f"call {cid}: {name} is signed but missing from the database (a row was "
                "deleted outside callvault)"
            )
        elif name not in signed:
            faults.append(
                f"call {cid}: {name} is in the database but not under signature (a row was "
                "added outside callvault)"
            )
        elif not hmac.compare_digest(signed[name], now[name]):
            faults.append(
                f"call {cid}: {name} does not match its signed value (changed outside callvault)"
            )
    return faults


def has_pending(session: Session) -> bool:
    """Whether a call still waits for `sign_pending` (a read: no write lock needed)."""
    query = select(CallSignatureRow.call_id).where(CallSignatureRow.version == PENDING)
    return session.scalars(query.limit(1)).first() is not None


def sign_pending(session: Session, signer: Signer, *, actor: str) -> list[str]:
    """Sign the calls that migration 0014 found stored (their row in `call_signatures`
    says `PENDING`): done when a vault is opened, and recorded as one `BACKFILL_ACTION`
    entry naming the calls. A call without any row stays a fault of `verify`. Returns
    the ids of the calls signed."""
    pending = list(
        session.scalars(
            select(CallRow)
            .join(CallSignatureRow, CallSignatureRow.call_id == CallRow.id)
            .where(CallSignatureRow.version == PENDING)
            .order_by(CallRow.id)
        )
    )
    for call in pending:
        sign(session, signer, call)
    ids = [call.id for call in pending]
    if ids:
        _audit.defer(
            session,
            signer,
            _audit.Entry(
                BACKFILL_ACTION,
                "vault",
                None,
                purpose="calls stored before their metadata was signed (migration 0014)",
                details={"calls": ids, "version": SIGNED_VERSION},
                actor=actor,
            ),
        )
    return ids


# -- re-signing what a write session changed -----------------------------------------------


def track(session: Session, signer: Signer) -> None:
    """Make `session` re-sign, before it commits, every call whose access metadata it
    changed through the ORM."""
    session.info[_SIGNER] = signer


def _history(obj: Any, name: str) -> Iterator[Any]:
    """The attribute's current value and, where it was changed, its former ones."""
    yield getattr(obj, name)
    yield from inspect(obj).attrs[name].history.deleted or ()


def _changed(obj: Any, *names: str) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


def _note(session: Session, key: str, values: Iterable[Any]) -> None:
    found = session.info.setdefault(key, set())
    found.update(v for v in values if v is not None)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    if _SIGNER not in session.info:
        return
    deleted = set(session.deleted)
    for obj in (*session.new, *session.dirty, *deleted):
        if isinstance(obj, CallRow):
            _note(session, _CALLS, [obj.id])
        elif isinstance(obj, ParticipantRow | LegRow | ConsentRow):
            _note(session, _CALLS, _history(obj, "call_id"))
        elif isinstance(obj, LegalHoldRow):
            _note(session, _CALLS, _history(obj, "call_id"))
            _note(session, _SUBJECTS, _history(obj, "subject_id"))
        elif isinstance(obj, RestrictionRow):
            _note(session, _SUBJECTS, _history(obj, "subject_id"))
        elif getattr(obj, "__tablename__", None) == _USERS.name and (
            obj in session.new or obj in deleted or _changed(obj, "username", "team")
        ):
            _note(session, _AGENTS, _history(obj, "username"))


def _subject_calls(session: Session, subjects: set[str]) -> set[str]:
    """The calls with a participant whose number or name (in any case) is a subject."""
    values = sorted(subjects)
    lowered = sorted({s.lower() for s in subjects})
    return set(
        session.scalars(
            select(ParticipantRow.call_id).where(
                or_(
                    ParticipantRow.phone.in_(values),
                    func.lower(ParticipantRow.name).in_(lowered),
                )
            )
        )
    )


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    sign_changed(session)


def sign_changed(session: Session) -> None:
    """Re-sign the calls whose access metadata `session` changed (what `track` noted):
    run by the session's `before_commit`, or earlier by a caller that wants it done
    before its last statements (the vault's write session appends its audit entries
    after it)."""
    signer = session.info.get(_SIGNER)
    if signer is None:
        return
    session.flush()
    calls: set[str] = session.info.pop(_CALLS, set())
    subjects: set[str] = session.info.pop(_SUBJECTS, set())
    agents: set[str] = session.info.pop(_AGENTS, set())
    if subjects:
        calls |= _subject_calls(session, subjects)
    if agents:
        names = sorted({a.strip().lower() for a in agents})
        calls |= set(
            session.scalars(select(CallRow.id).where(func.lower(CallRow.agent).in_(names)))
        )
    # Queried, not taken from the identity map: a call erased by a bulk DELETE in this
    # transaction may still be there, and has nothing left to sign. The rows are locked
    # (in id order) before their facts are read: on PostgreSQL two transactions that
    # change one call's metadata at once sign one after the other, the second seeing
    # what the first committed, so neither signs over the other's change.
    ids = sorted(calls)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        locking = select(CallRow).where(CallRow.id.in_(chunk)).order_by(CallRow.id)
        locking = locking.with_for_update().execution_options(populate_existing=True)
        for call in session.scalars(locking).all():
            sign(session, signer, call)
    session.flush()
