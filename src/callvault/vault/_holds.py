"""Legal holds, retention dates, and what keeps a call from being erased.

`vault.holds` (a `HoldRepository`) stores holds and retention dates, finds a data
subject's calls and says what blocks their erasure. What goes into the audit chain: ids,
dates and the operator's reasons; never a subject's number or name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callvault.errors import BlobStoreError, ErasureRefused, InputError
from callvault.vault._governance import (
    DUTY_CLASS_PREFIXES,
    ErasureBlock,
    ExpiredCall,
    HoldRecord,
    RetentionInfo,
    SubjectCall,
    _aware,
    _check_retention_class,
    _iso,
    _new_id,
    _no_such_hold,
    _now,
    _reason,
    _subject,
    active_holds,
    call_subjects,
    refuse_if_held,
    refuse_unless_expired,
    subject_match,
)
from callvault.vault._models import (
    ArtifactRow,
    CallRow,
    LegalHoldRow,
    ParticipantRow,
    RecordingRow,
    RestrictionRow,
    TranscriptRow,
)
from callvault.vault._repo import Repository
from callvault.vault._unit import Transaction

__all__ = ["HoldRepository"]

log = logging.getLogger("callvault.vault")


class HoldRepository(Repository):
    """Legal holds, retention and erasure checks (`vault.holds`)."""

    # -- legal holds -------------------------------------------------------------------

    def add_hold(
        self,
        call_id: str | None = None,
        subject: str | None = None,
        *,
        reason: str,
        actor: str | None = None,
        tx: Transaction | None = None,
    ) -> HoldRecord:
        """Put a call, or every call of a subject (a participant's number or name), on
        legal hold: it cannot be erased, by request or by retention, until released."""
        if (call_id is None) == (subject is None):
            raise InputError("a hold is on a call or on a subject: give exactly one of them")
        why = _reason(reason, "the reason")
        who = _subject(subject, "the subject") if subject is not None else None
        with self._unit(tx, actor=actor) as unit:
            session = unit.session
            if call_id is not None:
                self._call_row(session, call_id)
            row = LegalHoldRow(
                id=_new_id(),
                call_id=call_id,
                subject_id=who,
                reason=why,
                created_by=actor or self.config.actor,
                created_at=_now(),
            )
            session.add(row)
            session.flush()
            self._record(
                session,
                "hold.add",
                "hold",
                row.id,
                actor=actor,
                purpose=why,
                details={"call_id": call_id, "target": "call" if call_id else "subject"},
            )
            if self.store.has_object_lock():
                if call_id is not None:
                    covered = [call_id]
                else:
                    covered = list(
                        session.scalars(
                            select(ParticipantRow.call_id)
                            .where(subject_match(who or ""))
                            .distinct()
                        )
                    )
                unit.after_commit(lambda: self.protect_calls(covered))
            return HoldRecord.of(row)

    def release_hold(
        self, hold_id: str, *, reason: str, actor: str | None = None, tx: Transaction | None = None
    ) -> HoldRecord:
        """Release a hold; what it held may be erased again (the row stays, as history)."""
        why = _reason(reason, "the reason")
        with self._unit(tx, actor=actor) as unit:
            session = unit.session
            row = session.get(LegalHoldRow, hold_id)
            if row is None:
                raise _no_such_hold(hold_id)
            if row.released_at is not None:
                raise InputError(
                    f"hold {hold_id} was already released at {row.released_at.isoformat()}"
                )
            row.released_at = _now()
            row.released_by = actor or self.config.actor
            row.release_reason = why
            self._record(
                session,
                "hold.release",
                "hold",
                hold_id,
                actor=actor,
                purpose=why,
                details={"call_id": row.call_id},
            )
            if self.store.has_object_lock():
                if row.call_id is not None:
                    covered = [row.call_id]
                else:
                    covered = list(
                        session.scalars(
                            select(ParticipantRow.call_id)
                            .where(subject_match(row.subject_id or ""))
                            .distinct()
                        )
                    )
                unit.after_commit(lambda: self.protect_calls(covered, released=True))
            return HoldRecord.of(row)

    def holds(self, *, active_only: bool = True, actor: str | None = None) -> list[HoldRecord]:
        """Holds, oldest first; the listing is audited (subjects are personal data)."""
        with self._write() as session:
            query = select(LegalHoldRow).order_by(LegalHoldRow.created_at, LegalHoldRow.id)
            if active_only:
                query = query.where(LegalHoldRow.released_at.is_(None))
            records = [HoldRecord.of(row) for row in session.scalars(query)]
            self._record(
                session,
                "hold.list",
                "hold",
                None,
                actor=actor,
                details={"count": len(records), "active_only": active_only},
            )
        return records

    def protect_calls(self, call_ids: Iterable[str], *, released: bool = False) -> int:
        """Mirror the vault's holds and duty retention onto the blob store's object lock
        (a no-op unless the store has it): every blob of each call gets a legal hold while
        an active hold covers the call, and a retain-until date when its retention class
        is a duty class (MiFID) with a `retain_until`. Returns how many blobs were set.
        A blob with neither is left alone (a new object has no lock) unless `released`
        (a hold was released: its legal hold is turned off).

        Called after the commit of a hold, a release, an ingest and a retention change. A
        failure is logged, not raised: the vault's own hold already blocks erasure."""
        if not self.store.has_object_lock():
            return 0
        wanted = list(dict.fromkeys(call_ids))
        if not wanted:
            return 0
        with self._read() as session:
            held = active_holds(session, wanted)
            plan: list[tuple[str, datetime | None, bool]] = []
            for call_id in wanted:
                call = session.get(CallRow, call_id)
                if call is None:
                    continue
                duty = call.retention_class.startswith(DUTY_CLASS_PREFIXES)
                until = call.retain_until if duty else None
                hold = bool(held.get(call_id))
                if until is None and not hold and not released:
                    continue
                for key in _blob_keys(session, call_id):
                    plan.append((key, until, hold))
        done = 0
        for key, until, hold in plan:
            try:
                self.store.protect(key, retain_until=until, legal_hold=hold)
                done += 1
            except BlobStoreError:
                log.warning("could not set the object lock of blob %s", key)
        return done

    def is_held(self, call_id: str) -> bool:
        """Whether an active legal hold covers the call (not audited: a yes or no)."""
        with self._read() as session:
            self._call_row(session, call_id)
            return bool(active_holds(session, [call_id]).get(call_id))

    def check_erasable(self, call_id: str, *, expired_by: datetime | None = None) -> None:
        """Raise NotFound or ErasureRefused unless the call may be erased now (not audited:
        ids only). `Vault.delete_call` checks again inside its own transaction."""
        with self._read() as session:
            call = self._call_row(session, call_id)
            refuse_if_held(session, call_id, call_subjects(session, call_id))
            restriction_id = self.vault.restrictions._restricted(session, [call_id]).get(call_id)
            if restriction_id is not None:
                raise ErasureRefused(
                    f"call {call_id} is restricted by restriction {restriction_id} (GDPR art. "
                    "18): it is kept, not erased, until the restriction is lifted (`callvault "
                    f"rights lift {restriction_id} --reason ...`)",
                    call_id=call_id,
                )
            if expired_by is not None:
                refuse_unless_expired(call, expired_by)

    # -- data subjects -----------------------------------------------------------------

    def subject_calls(
        self, subject: str, *, actor: str | None = None, purpose: str | None = None
    ) -> list[SubjectCall]:
        """The calls in which a participant's number equals `subject` (E.164, normalised
        when it starts with +) or whose name equals it (case-insensitive), oldest first.

        Audited as `rights.find` with call ids and a count only: the subject is personal
        data and the chain cannot be edited.
        """
        who = _subject(subject, "the subject")
        with self._write() as session:
            match = subject_match(who)
            rows = session.execute(
                select(ParticipantRow.call_id, ParticipantRow.role, CallRow.started_at)
                .join(CallRow, CallRow.id == ParticipantRow.call_id)
                .where(match)
                .order_by(CallRow.created_at, CallRow.id, ParticipantRow.position)
            ).all()
            first: dict[str, tuple[str, datetime | None]] = {}
            for call_id, role, started_at in rows:
                first.setdefault(call_id, (role, started_at))
            counts: dict[str, int] = {}
            if first:
                for call_id, n in session.execute(
                    select(ParticipantRow.call_id, func.count())
                    .where(ParticipantRow.call_id.in_(list(first)))
                    .group_by(ParticipantRow.call_id)
                ):
                    counts[call_id] = int(n)
            calls = [
                SubjectCall(call_id, started_at, role, counts.get(call_id, 1) - 1)
                for call_id, (role, started_at) in first.items()
            ]
            self._record(
                session,
                "rights.find",
                "subject",
                None,
                actor=actor,
                purpose=purpose,
                details={"count": len(calls), "calls": [c.call_id for c in calls]},
            )
        return calls

    def erasure_blocks(self, call_ids: Iterable[str], now: datetime) -> list[ErasureBlock]:
        """What keeps each of `call_ids` from being erased on request at `now`: every
        active legal hold, an active restriction of processing, and a duty retention class
        (see DUTY_CLASS_PREFIXES) whose `retain_until` is later or unset. Not audited: ids,
        reasons and dates only."""
        moment = _aware(now, "now")
        wanted = list(call_ids)
        blocks: list[ErasureBlock] = []
        with self._read() as session:
            held = active_holds(session, wanted) if wanted else {}
            restricted = self.vault.restrictions._restricted(session, wanted)
            for call_id in wanted:
                for hold in _rows(session, held.get(call_id, [])):
                    blocks.append(ErasureBlock(call_id, "legal-hold", hold.id, hold.reason))
                if call_id in restricted:
                    restriction = session.get(RestrictionRow, restricted[call_id])
                    blocks.append(
                        ErasureBlock(
                            call_id,
                            "restriction",
                            reason=restriction.reason if restriction is not None else None,
                            restriction_id=restricted[call_id],
                        )
                    )
                call = self._call_row(session, call_id)
                duty = call.retention_class.startswith(DUTY_CLASS_PREFIXES)
                if duty and (call.retain_until is None or call.retain_until > moment):
                    blocks.append(
                        ErasureBlock(
                            call_id,
                            "retention-duty",
                            retention_class=call.retention_class,
                            retain_until=call.retain_until,
                        )
                    )
        return blocks

    # -- retention ---------------------------------------------------------------------

    def set_retention(
        self,
        call_id: str,
        retention_class: str,
        retain_until: datetime | None,
        *,
        actor: str | None = None,
        tx: Transaction | None = None,
    ) -> RetentionInfo:
        """Assign a call's retention class and the time after which it is erased
        (None: no expiry; `retention run` never erases such a call)."""
        _check_retention_class(retention_class)  # before the lookup: the input is wrong
        with self._unit(tx, actor=actor) as unit:
            session = unit.session
            info = self._set_retention(
                session, self._call_row(session, call_id), retention_class, retain_until, actor
            )
            if self.store.has_object_lock():
                unit.after_commit(lambda: self.protect_calls([call_id]))
            return info

    def _set_retention(
        self,
        session: Session,
        call: CallRow,
        retention_class: str,
        retain_until: datetime | None,
        actor: str | None,
    ) -> RetentionInfo:
        _check_retention_class(retention_class)
        until = _aware(retain_until, "retain until") if retain_until is not None else None
        before = RetentionInfo(call.id, call.retention_class, call.retain_until)
        call.retention_class, call.retain_until = retention_class, until
        self._record(
            session,
            "retention.set",
            "call",
            call.id,
            actor=actor,
            details={
                "retention_class": retention_class,
                "retain_until": _iso(until),
                "previous": before.to_json(),
            },
        )
        return RetentionInfo(call.id, retention_class, until)

    def expired_calls(self, now: datetime, *, include_held: bool = False) -> list[ExpiredCall]:
        """Calls whose `retain_until` is at or before `now`, earliest first; held calls,
        and calls under a restriction of processing, only with `include_held` (not
        audited: ids and dates only). A call without a `retain_until` never expires."""
        moment = _aware(now, "now")
        with self._read() as session:
            rows = session.execute(
                select(CallRow.id, CallRow.retention_class, CallRow.retain_until)
                .where(CallRow.retain_until.is_not(None), CallRow.retain_until <= moment)
                .order_by(CallRow.retain_until, CallRow.id)
            ).all()
            held = active_holds(session, [r[0] for r in rows]) if rows else {}
            restricted = self.vault.restrictions._restricted(session, [r[0] for r in rows])
        expired = [
            ExpiredCall(call_id, cls, until, tuple(held.get(call_id, ())), restricted.get(call_id))
            for call_id, cls, until in rows
            if until is not None  # the query's condition; this tells the type checker
        ]
        return [e for e in expired if include_held or not (e.hold_ids or e.restriction_id)]


def _rows(session: Session, ids: list[str]) -> Iterator[LegalHoldRow]:
    for hold_id in ids:
        row = session.get(LegalHoldRow, hold_id)
        if row is not None:
            yield row


def _blob_keys(session: Session, call_id: str) -> list[str]:
    """The keys of every blob of a call: its recordings, transcripts and artifacts."""
    recordings = session.execute(
        select(RecordingRow.id, RecordingRow.blob_key).where(RecordingRow.call_id == call_id)
    ).all()
    keys = [str(key) for _rid, key in recordings]
    rids = [rid for rid, _key in recordings]
    if rids:
        for model in (TranscriptRow, ArtifactRow):
            keys += session.scalars(select(model.blob_key).where(model.recording_id.in_(rids)))
    return keys
