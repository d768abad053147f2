"""Use case: a party's spoken refusal to be recorded, found in a processed call (issue 20).

After processing has stored a call's transcript, each party's words (per channel, or
per speaker on a mixed leg) go through `analysis.detect_refusals` with the transcript's
language. The earliest refusal at or above `Config.refusal_min_confidence` is recorded
(`vault.refusals`: ids, channel, times, confidence, phrase id; the words sealed under
the detection's own key) and then, as `Config.spoken_refusal` says:

* ``honour``: the recording as stored is first sealed again, whole, under the
  detection's key: the quarantine, unreadable by every read path (not playable, not
  indexed), kept `refusal_quarantine_days`. Then the withdrawal path runs
  (`RewriteRepository.record_call_withdrawal`: the party's consents for the call are
  marked withdrawn at the refusal, audited as `consent.withdraw.during-call`) and, as
  `services.withdrawal` decides (`on_withdrawal`): ``cut`` at the refusal's first word,
  sample-exact, the transcript keeping the words that end by then (`recording.cut`,
  under a new data key); or ``erased``, when nothing before the refusal would be kept
  (it is the first thing said, or it starts at 0), the call is in consent quarantine,
  or the policy is ``discard-call``. An erasure is deferred so that it can be reversed:
  every sample is silenced and the transcript and search rows dropped now
  (`recording.silence`, under a new data key), and `retention run` erases the call
  whole, with its certificate, when the quarantine ends.
* ``flag``: nothing is cut; the detection is listed as "flagged" for review, and a
  compliance user may apply it (`apply_refusal`: quarantine, then as above).
* ``off``: processing does not look.

A legal hold on the call keeps it whole: the detection is recorded as "flagged" and
audited `refusal.held`. A refusal already recorded for the call within a second of the
new one (applied, flagged or reversed) is not recorded again: processing the call again
(after a reversal, say) never re-applies a detection a person took back.

Review (compliance role only): `list_refusals`, `show_refusal` (the words read are
audited), `reverse_refusal` (restores the quarantined recording under a new data key,
takes back the withdrawals, drops the transcript, queues processing again and marks the
detection reversed; refused once the quarantine has ended) and `apply_refusal`.
`expire_refusal_quarantines` (called by `retention run`) crypto-shreds the quarantines
whose time has passed, audited `refusal.quarantine.shred` with a certificate; a held
call keeps its quarantine. The audit log holds ids, times and numbers only.

Limits: on a mixed (mono) leg the parties cannot be told apart; the withdrawal is then
recorded for every party who is not the agent (all of them on a call without one). The
cut is at the refusal's first word as the detector reports it ("don't want to be
recorded": the "I" before it stays) and as the recogniser timed it (tiny models can be
early or late by a word).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any

from callvault.errors import InputError
from callvault.jobs import JobRecord
from callvault.media import decode_pcm
from callvault.services._context import Context
from callvault.services._rewrite import rewrite_call
from callvault.services._spoken_refusal import (
    RESTORE_ACTION,
    RestoreAudio,
    detect_and_honour,
    honour,
)
from callvault.services.access import REFUSALS_READ, REFUSALS_WRITE, require
from callvault.services.jobs import enqueue_processing, open_queue
from callvault.services.retention import RefusalExpiry, expire_refusal_quarantines
from callvault.vault import RefusalRecord

__all__ = [
    "RefusalExpiry",
    "RefusalView",
    "apply_refusal",
    "detect_and_honour",
    "expire_refusal_quarantines",
    "list_refusals",
    "reverse_refusal",
    "show_refusal",
]

log = logging.getLogger("callvault.services")


# -- records ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RefusalView:
    """A detection as a compliance user sees it: the record and its words (None once
    shredded, or when not read)."""

    detection: RefusalRecord
    words: str | None
    job_id: str | None = None  # the processing queued by a reversal

    def to_json(self) -> dict[str, Any]:
        return {**self.detection.to_json(), "words": self.words, "job_id": self.job_id}


# -- review ----------------------------------------------------------------------------


def list_refusals(
    ctx: Context, *, status: str | None = None, call_id: str | None = None
) -> list[RefusalView]:
    """Detections, newest first, with their words (one audited read); compliance only."""
    require(ctx.who, REFUSALS_READ)
    detections = ctx.vault.refusals.list_detections(status=status, call_id=call_id)
    words = ctx.vault.refusals.read_words(
        [d.id for d in detections], actor=ctx.actor, purpose="review of spoken refusals"
    )
    return [RefusalView(d, words.get(d.id)) for d in detections]


def show_refusal(ctx: Context, detection_id: str) -> RefusalView:
    """One detection with its words (audited read); compliance only."""
    require(ctx.who, REFUSALS_READ)
    detection = ctx.vault.refusals.get(detection_id)
    words = ctx.vault.refusals.read_words(
        [detection.id], actor=ctx.actor, purpose="review of a spoken refusal"
    )
    return RefusalView(detection, words.get(detection.id))


def _reason(reason: str) -> str:
    why = reason.strip()
    if not why:
        raise InputError("give a reason (--reason); it goes to the audit log")
    return why[:256]


def apply_refusal(ctx: Context, detection_id: str, *, reason: str) -> RefusalView:
    """Honour a flagged detection now (quarantine, withdrawal, cut or silence);
    compliance only. Refused for a detection that is not flagged."""
    require(ctx.who, REFUSALS_WRITE)
    why = _reason(reason)
    vault = ctx.vault
    detection = vault.refusals.get(detection_id)
    if detection.status != "flagged":
        raise InputError(
            f"refusal detection {detection_id} is {detection.status}, not flagged: there is "
            "nothing to apply"
        )
    applied = honour(ctx, detection, actor=ctx.actor)
    applied = vault.refusals.mark(
        detection_id, status="applied", reviewer=ctx.actor, review_reason=why
    )
    vault.record_event(
        "refusal.apply",
        "call",
        applied.call_id,
        actor=ctx.actor,
        purpose=why,
        details={"detection_id": detection_id, "outcome": applied.outcome},
    )
    return RefusalView(applied, None)


def reverse_refusal(ctx: Context, detection_id: str, *, reason: str) -> RefusalView:
    """Take back a false detection: the quarantined recording is restored (under a new
    data key; the same samples as before the cut), the consents it withdrew are active
    again, the transcript is dropped and processing queued again, and the detection is
    marked reversed (never applied again); compliance only, audited `refusal.reverse`.

    A flagged detection was never applied: it is marked reversed (dismissed). Refused
    once the quarantine has ended (the cut part was destroyed), and for a detection
    reversed before.
    """
    require(ctx.who, REFUSALS_WRITE)
    why = _reason(reason)
    vault = ctx.vault
    actor = ctx.actor
    detection = vault.refusals.get(detection_id)
    if detection.status == "flagged":
        dismissed = vault.refusals.mark(
            detection_id, status="reversed", reviewer=actor, review_reason=why
        )
        vault.record_event(
            "refusal.reverse",
            "call",
            detection.call_id,
            actor=actor,
            purpose=why,
            details={"detection_id": detection_id, "restored": False},
        )
        return RefusalView(dismissed, None)
    if detection.status == "expired" or (
        detection.status == "applied" and not detection.quarantined
    ):
        ended = detection.quarantine_until.isoformat() if detection.quarantine_until else "?"
        raise InputError(
            f"refusal detection {detection_id} cannot be reversed: its quarantine ended "
            f"({ended}) and the part of the recording it cut was destroyed"
        )
    if detection.status != "applied":
        raise InputError(
            f"refusal detection {detection_id} is {detection.status}: only an applied or a "
            "flagged detection can be reversed"
        )
    plain, _meta = vault.refusals.open_quarantine(detection_id, actor=actor, purpose=why)
    pcm, rate = decode_pcm(io.BytesIO(plain), name=f"quarantine of detection {detection_id}")
    del plain
    rewrite_call(
        vault,
        detection.call_id,
        RestoreAudio(pcm, rate),
        lambda u: None,  # the transcript is made again from the whole recording
        action=RESTORE_ACTION,
        reason=why,
        actor=actor,
    )
    del pcm
    with vault.transaction(actor=actor) as tx:
        restored = vault.refusals.restore_consents(detection_id, tx=tx)
        vault.refusals.mark(
            detection_id, status="reversed", reviewer=actor, review_reason=why, tx=tx
        )
        tx.audit(
            "refusal.reverse",
            "call",
            detection.call_id,
            purpose=why,
            details={"detection_id": detection_id, "restored": True, "consents": restored},
        )
    vault.refusals.shred_quarantine(
        detection_id, reason="restored by a reversal", keep_words=True, actor=actor
    )
    job = _queue_processing(ctx, detection.call_id)
    log.info("call %s: spoken refusal reversed", detection.call_id)
    return RefusalView(vault.refusals.get(detection_id), None, job.id)


def _queue_processing(ctx: Context, call_id: str) -> JobRecord:
    queue = ctx.queue if ctx.queue is not None else open_queue(ctx.config, ctx.vault)
    record = ctx.vault.calls.get_call(call_id, purpose="spoken refusal reversed")
    return enqueue_processing(queue, call_id, record.recording.id, again=True)
