"""Consent records, the ingest gate's admission of a call, and quarantine.

`vault.consent` (a `ConsentRepository`) records consents (for one call, or standing),
carries out the policy gate's decision for a call being stored, and keeps a call in
quarantine until every party's consent is recorded. Consent notes and participants never
go into the audit chain.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from callvault.errors import ConsentRequired, InputError, Quarantined
from callvault.vault._governance import (
    CONSENT_METHODS,
    CONSENT_SCOPES,
    Admission,
    ConsentRecord,
    QuarantinedCall,
    _aware,
    _iso,
    _new_id,
    _no_such_consent,
    _now,
    _subject,
    active_holds,
    erased_parties,
)
from callvault.vault._models import CallRow, ConsentRow, ParticipantRow
from callvault.vault._repo import Repository
from callvault.vault._unit import Transaction

__all__ = ["ConsentRepository"]


class ConsentRepository(Repository):
    """Consent records, admission and quarantine (`vault.consent`)."""

    # -- consent -----------------------------------------------------------------------

    def record_consent(
        self,
        participant: str,
        *,
        method: str,
        scopes: Iterable[str],
        call_id: str | None = None,
        given_at: datetime | None = None,
        note: str | None = None,
        actor: str | None = None,
        tx: Transaction | None = None,
    ) -> ConsentRecord:
        """Record a participant's consent, for one call or (without `call_id`) standing:
        a standing consent covers the participant's calls from `given_at` until it is
        withdrawn, and the ingest gate looks it up.

        The record outlives the call: erasing the call sets its `call_id` to null, and the
        record stays as proof that the recording was lawful. A quarantined call whose
        parties have now all consented to recording leaves quarantine in the same
        transaction (`consent_state` becomes "given", audited as `call.release`).
        """
        with self._writing(tx) as session:
            if call_id is not None:
                self._call_row(session, call_id)
            record = self._add_consent(
                session, participant, method, scopes, call_id, given_at, note, actor
            )
            if call_id is not None:
                self._release_if_consented(session, self._call_row(session, call_id), actor)
            return record

    def _add_consent(
        self,
        session: Session,
        participant: str,
        method: str,
        scopes: Iterable[str],
        call_id: str | None,
        given_at: datetime | None,
        note: str | None,
        actor: str | None,
    ) -> ConsentRecord:
        who = _subject(participant, "the participant")
        if method not in CONSENT_METHODS:
            raise InputError(
                f"consent method {method!r} is unknown; use one of {', '.join(CONSENT_METHODS)}"
            )
        chosen = set(scopes)
        unknown = sorted(chosen - set(CONSENT_SCOPES))
        if unknown or not chosen:
            what = f"consent scope {unknown[0]!r} is unknown" if unknown else "no consent scope"
            raise InputError(f"{what}; use one or more of {', '.join(CONSENT_SCOPES)}")
        when = _aware(given_at, "given at") if given_at is not None else _now()
        row = ConsentRow(
            id=_new_id(),
            call_id=call_id,
            participant=who,
            method=method,
            scopes=",".join(sorted(chosen)),
            given_at=when,
            recorded_by=actor or self.config.actor,
            note=note or None,
            standing=call_id is None,
        )
        session.add(row)
        session.flush()
        self._record(
            session,
            "consent.record",
            "consent",
            row.id,
            actor=actor,
            details={
                "call_id": call_id,
                "standing": call_id is None,
                "method": method,
                "scopes": sorted(chosen),
                "given_at": _iso(when),
            },
        )
        return ConsentRecord.of(row)

    # -- admission and quarantine ------------------------------------------------------

    def _admit(
        self, session: Session, call: CallRow, admission: Admission, actor: str | None
    ) -> None:
        """Carry out the gate's decision for a call being stored (in its transaction)."""
        self._record(
            session, "policy.decision", "call", call.id, actor=actor, details=admission.decision
        )
        self.vault.holds._set_retention(
            session, call, admission.retention_class, admission.retain_until, actor
        )
        for grant in admission.consents:
            self._add_consent(
                session,
                grant.participant,
                grant.method,
                grant.scopes,
                call.id,
                grant.given_at,
                grant.note,
                actor,
            )
        call.consent_state = admission.consent_state
        call.quarantine_until = admission.quarantine_until
        if admission.consent_state == "quarantined":
            self._record(
                session,
                "call.quarantine",
                "call",
                call.id,
                actor=actor,
                details={"until": _iso(admission.quarantine_until)},
            )

    def standing_consents(
        self, identifiers: Iterable[str], at: datetime
    ) -> dict[str, ConsentRecord]:
        """The standing consent to recording in force at `at` of each identifier (an
        E.164 number or a name, compared case-insensitively) that has one: the ingest
        gate's lookup. Not audited: the ingest that uses it records what it relied on."""
        moment = _aware(at, "at")
        wanted = {i.lower(): i for i in identifiers if i}
        if not wanted:
            return {}
        with self._read() as session:
            rows = session.scalars(
                select(ConsentRow)
                .where(
                    ConsentRow.standing.is_(True),
                    func.lower(ConsentRow.participant).in_(list(wanted)),
                    ConsentRow.given_at <= moment,
                    or_(ConsentRow.withdrawn_at.is_(None), ConsentRow.withdrawn_at > moment),
                )
                .order_by(ConsentRow.given_at.desc(), ConsentRow.id)
            ).all()
        found: dict[str, ConsentRecord] = {}
        for row in rows:
            if "record" in row.scopes.split(","):
                found.setdefault(wanted[row.participant.lower()], ConsentRecord.of(row))
        return found

    def _every_party_consented(self, session: Session, call_id: str, scope: str) -> bool:
        """Whether every participant of the call has an active consent for this call
        with `scope` (matched by number, name or role). A party whose leg was erased
        (`erased_parties`) is not asked: what is left of the call is theirs no more, so
        it goes on with the consent of the parties that remain (issue 17)."""
        session.flush()
        consented = {
            row.participant.lower()
            for row in session.scalars(
                select(ConsentRow).where(
                    ConsentRow.call_id == call_id, ConsentRow.withdrawn_at.is_(None)
                )
            )
            if scope in row.scopes.split(",")
        }
        erased = erased_parties(session, self._call_row(session, call_id))
        parties = [
            p
            for p in session.scalars(
                select(ParticipantRow).where(ParticipantRow.call_id == call_id)
            )
            if p.id not in erased
        ]
        return bool(parties) and all(
            any(i and i.lower() in consented for i in (p.phone, p.name, p.role)) for p in parties
        )

    def _release_if_consented(self, session: Session, call: CallRow, actor: str | None) -> bool:
        """Take a quarantined call out of quarantine once every party has consented."""
        if call.consent_state != "quarantined":
            return False
        if not self._every_party_consented(session, call.id, "record"):
            return False
        call.consent_state, call.quarantine_until = "given", None
        self._record(
            session, "call.release", "call", call.id, actor=actor, details={"consent": "given"}
        )
        return True

    def analysis_consented(self, call_id: str) -> bool:
        """Whether the call may be transcribed and analysed: always where its parties'
        law needs no consent of each ("not-needed"); where it does, only once every
        party consented to the `analyse` scope (not audited: a yes or no)."""
        with self._read() as session:
            call = self._call_row(session, call_id)
            if call.consent_state == "not-needed":
                return True
            if call.consent_state == "quarantined":
                return False
            return self._every_party_consented(session, call_id, "analyse")

    def every_party_consented(self, call_id: str, scope: str) -> bool:
        """Whether every remaining party of the call has an active consent for this call
        with `scope` (such as "training", issue 22: secondary use); not audited."""
        if scope not in CONSENT_SCOPES:
            raise ValueError(f"consent scope {scope!r} is unknown")
        with self._read() as session:
            return self._every_party_consented(session, call_id, scope)

    def refuse_unless_analysis_consented(self, call_id: str) -> None:
        """Raise ConsentRequired while a party's consent to analysis is missing."""
        if not self.analysis_consented(call_id):
            raise ConsentRequired(
                f"call {call_id}: not every party consented to analysis (transcription); "
                f"record it with callvault consent add --call {call_id} --participant ... "
                "--scope analyse; the call is kept, not processed"
            )

    def refuse_if_quarantined(self, call_id: str) -> None:
        """Raise Quarantined while the call waits for its parties' consent."""
        if self.consent_state(call_id) == "quarantined":
            raise Quarantined(
                f"call {call_id} is in quarantine until every party's consent to recording "
                f"is recorded (callvault consent add --call {call_id} ...); it is not "
                "processed before"
            )

    def consent_state(self, call_id: str) -> str:
        """A call's consent state (CONSENT_STATES; not audited: no personal data)."""
        with self._read() as session:
            return self._call_row(session, call_id).consent_state

    def quarantined_calls(self, *, ended_by: datetime | None = None) -> list[QuarantinedCall]:
        """Quarantined calls, earliest deadline first; with `ended_by`, only those whose
        quarantine ended at or before it (not audited: ids and dates only)."""
        with self._read() as session:
            query = (
                select(CallRow.id, CallRow.quarantine_until)
                .where(CallRow.consent_state == "quarantined")
                .order_by(CallRow.quarantine_until, CallRow.id)
            )
            if ended_by is not None:
                query = query.where(CallRow.quarantine_until <= _aware(ended_by, "ended by"))
            rows = session.execute(query).all()
            held = active_holds(session, [r[0] for r in rows]) if rows else {}
        return [
            QuarantinedCall(call_id, until, tuple(held.get(call_id, ())))
            for call_id, until in rows
            if until is not None
        ]

    def withdraw_consent(
        self,
        consent_id: str,
        *,
        at: datetime | None = None,
        actor: str | None = None,
        tx: Transaction | None = None,
    ) -> ConsentRecord:
        """Mark a consent withdrawn (the record stays: it covered what came before)."""
        when = _aware(at, "withdrawn at") if at is not None else _now()
        with self._writing(tx) as session:
            row = session.get(ConsentRow, consent_id)
            if row is None:
                raise _no_such_consent(consent_id)
            if row.withdrawn_at is not None:
                raise InputError(
                    f"consent {consent_id} was already withdrawn at {row.withdrawn_at.isoformat()}"
                )
            if when < row.given_at:
                raise InputError(
                    f"consent {consent_id} was given at {row.given_at.isoformat()}; it cannot "
                    f"be withdrawn earlier, at {when.isoformat()}"
                )
            row.withdrawn_at = when
            self._record(
                session,
                "consent.withdraw",
                "consent",
                consent_id,
                actor=actor,
                details={"call_id": row.call_id, "withdrawn_at": _iso(when)},
            )
            return ConsentRecord.of(row)

    def consents(
        self,
        *,
        call_id: str | None = None,
        participant: str | None = None,
        actor: str | None = None,
    ) -> list[ConsentRecord]:
        """Consent records, oldest first, of one call and/or one participant (audited)."""
        who = _subject(participant, "the participant") if participant is not None else None
        with self._write() as session:
            query = select(ConsentRow).order_by(ConsentRow.given_at, ConsentRow.id)
            if call_id is not None:
                query = query.where(ConsentRow.call_id == call_id)
            if who is not None:
                query = query.where(ConsentRow.participant == who)
            records = [ConsentRecord.of(row) for row in session.scalars(query)]
            self._record(
                session,
                "consent.list",
                "consent",
                None,
                actor=actor,
                details={"count": len(records), "call_id": call_id},
            )
        return records
