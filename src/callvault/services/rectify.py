"""Use cases for rectification (GDPR art. 16) and restriction of processing (art. 18).

A rectified utterance is stored in a new transcript together with its search index rows,
so search finds the new words and no longer the old ones at once. Every rectification
keeps its history (old, new, who, why), encrypted under the recording's key. When a call
is processed again, `reapply_corrections` carries its utterance corrections over to the
new transcript wherever an utterance with the same span is found again.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from callvault.analysis import Transcript
from callvault.errors import InputError
from callvault.search import SearchIndex, SemanticIndex
from callvault.services._context import Context
from callvault.services._index import index_rows
from callvault.services._speakers import speakers_by_channel
from callvault.services.insights import redact_text
from callvault.vault import CorrectionRecord, RestrictionRecord, Vault, corrected_utterance

__all__ = [
    "SPAN_TOLERANCE_S",
    "correction_history",
    "lift_restriction",
    "list_restrictions",
    "reapply_corrections",
    "rectify_participant",
    "rectify_utterance",
    "restrict_subject",
]

log = logging.getLogger("callvault.services")

# How far (seconds) a re-processed utterance's start and end may move and still be the
# utterance a correction was made to.
SPAN_TOLERANCE_S = 0.05
# The purpose of the reads rectification makes itself.
_PURPOSE = "rectification"


def restrict_subject(
    ctx: Context, subject: str, *, reason: str, actor: str | None = None
) -> RestrictionRecord:
    """Restrict processing of every call of `subject` (audited as `restriction.add`)."""
    vault = ctx.vault
    return vault.restrictions.restrict(subject, reason, actor=actor)


def lift_restriction(
    ctx: Context, restriction_id: str, *, reason: str, actor: str | None = None
) -> RestrictionRecord:
    """Lift a restriction (audited as `restriction.lift`)."""
    vault = ctx.vault
    return vault.restrictions.lift_restriction(restriction_id, reason, actor=actor)


def list_restrictions(
    ctx: Context, *, active_only: bool = True, actor: str | None = None
) -> list[RestrictionRecord]:
    vault = ctx.vault
    return vault.restrictions.restrictions(active_only=active_only, actor=actor)


def rectify_utterance(
    ctx: Context,
    call_id: str,
    utterance: int,
    text: str,
    *,
    reason: str,
    actor: str | None = None,
) -> CorrectionRecord:
    """Replace an utterance's text; the transcript, the history and the search index
    rows of the recording change in one transaction."""
    vault = ctx.vault
    # Refused before anything is read when the call is restricted or the input is bad;
    # the vault checks again inside its transaction.
    vault.restrictions.refuse_if_restricted(call_id, doing="rectified")
    if not text.split():
        raise InputError("the new text is empty; give the utterance's corrected words")
    record = vault.calls.get_call(call_id, actor=actor, purpose=_PURPOSE)
    text = redact_text(vault.config, text, record.language)
    speakers = speakers_by_channel(record)
    index = SearchIndex(vault.engine, vault.search_key)
    semantic = SemanticIndex(vault.engine, vault.search_key)
    with vault.transaction(actor=actor) as tx:
        done = vault.corrections.correct_utterance(
            call_id, utterance, text, reason, actor=actor, tx=tx
        )
        rows = index_rows(record, speakers, Transcript.from_json(done.document))
        index.index_utterances(tx.session, rows)
        semantic.index_utterances(tx.session, rows)
    return done.record


def rectify_participant(
    ctx: Context,
    call_id: str,
    position: int,
    *,
    name: str | None = None,
    phone: str | None = None,
    reason: str,
    actor: str | None = None,
) -> CorrectionRecord:
    """Replace a participant's name or phone number (exactly one of them)."""
    vault = ctx.vault
    if (name is None) == (phone is None):
        raise InputError("give exactly one of --name and --phone to correct a participant")
    field, value = ("name", name) if name is not None else ("phone", phone)
    assert value is not None
    return vault.corrections.correct_participant(
        call_id, position, field, value, reason, actor=actor
    )


def correction_history(
    ctx: Context, call_id: str, *, purpose: str | None = None, actor: str | None = None
) -> list[CorrectionRecord]:
    """A call's rectifications, oldest first, decrypted (audited as `correction.read`)."""
    vault = ctx.vault
    return vault.corrections.corrections(call_id, actor=actor, purpose=purpose)


def reapply_corrections(vault: Vault, call_id: str, transcript: Transcript) -> Transcript:
    """`transcript` (new, of a call processed again) with the call's utterance
    corrections applied again: each to the utterance whose start and end are within
    `SPAN_TOLERANCE_S` of the corrected one's, the latest correction winning. A
    correction whose utterance is not found again is left in the history only."""
    if not vault.corrections.correction_ids(call_id):
        return transcript
    history = [
        c
        for c in vault.corrections.corrections(
            call_id, purpose=f"{_PURPOSE}: re-apply after processing"
        )
        if c.target == "utterance" and c.start is not None and c.end is not None
    ]
    if not history:
        return transcript
    utterances = list(transcript.utterances)
    applied = 0
    for correction in history:
        assert correction.start is not None and correction.end is not None
        for position, u in enumerate(utterances):
            if (
                abs(u.start - correction.start) <= SPAN_TOLERANCE_S
                and abs(u.end - correction.end) <= SPAN_TOLERANCE_S
            ):
                utterances[position] = corrected_utterance(u, correction.new)
                applied += 1
                break
    log.info(
        "call %s: %d of %d utterance corrections applied again", call_id, applied, len(history)
    )
    return replace(transcript, utterances=tuple(utterances))
