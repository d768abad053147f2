"""The core of honouring a spoken refusal in processed calls (issue 20): detection,
quarantine, cut or silence, and the end of a quarantine. `services.refusals` documents
the method and its limits; this module is apart so that processing and retention use it
without importing the review (which queues jobs)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from callvault.analysis import Transcript, Utterance, Word, detect_refusals
from callvault.errors import InputError, NotFound
from callvault.media import AudioEdit, CutAt
from callvault.services._context import Context
from callvault.services._rewrite import cut_utterance, rewrite_call
from callvault.vault import CallRecord, RefusalRecord

__all__ = [
    "RESTORE_ACTION",
    "SILENCE_ACTION",
    "RestoreAudio",
    "detect_and_honour",
    "find_refusal",
    "honour",
]

log = logging.getLogger("callvault.services")

SILENCE_ACTION = "recording.silence"
RESTORE_ACTION = "recording.restore"
_SAME_MOMENT_S = 1.0  # a detection this close to a recorded one is the same refusal


# -- audio edits -----------------------------------------------------------------------


@dataclass(frozen=True)
class SilenceAll(AudioEdit):
    """Every sample of every channel set to zero, the length kept: a call erased by a
    refusal while its quarantine lasts."""

    def validate(self, channels: int, frames: int, sample_rate: int) -> None:
        return None

    def apply(self, pcm: np.ndarray, sample_rate: int) -> np.ndarray:
        return np.zeros_like(pcm)

    def to_json(self) -> dict[str, Any]:
        return {"edit": "silence-all"}


@dataclass(frozen=True, eq=False)
class RestoreAudio(AudioEdit):
    """The recording replaced by the quarantined samples (a reversal)."""

    pcm: np.ndarray
    sample_rate: int

    def validate(self, channels: int, frames: int, sample_rate: int) -> None:
        if sample_rate != self.sample_rate or channels != self.pcm.shape[0]:
            raise InputError(
                f"the quarantined audio ({self.pcm.shape[0]} channel(s) at {self.sample_rate} "
                f"Hz) does not fit the stored recording ({channels} at {sample_rate} Hz); "
                "nothing was changed"
            )

    def apply(self, pcm: np.ndarray, sample_rate: int) -> np.ndarray:
        return self.pcm

    def to_json(self) -> dict[str, Any]:
        return {"edit": "restore", "frames": int(self.pcm.shape[1])}


# -- records ---------------------------------------------------------------------------


# -- detection in processing -----------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    channel: int | None
    start: float
    end: float
    text: str
    confidence: float
    phrase: str
    language: str | None


def _parties(transcript: Transcript) -> dict[tuple[int | None, str], list[Word]]:
    """Each party's words in time order: by channel, or by speaker on a mixed leg."""
    groups: dict[tuple[int | None, str], list[Word]] = {}
    for utterance in transcript.utterances:
        key = (utterance.channel, utterance.speaker if utterance.channel is None else "")
        groups.setdefault(key, []).extend(utterance.words)
    for words in groups.values():
        words.sort(key=lambda w: (w.start, w.end))
    return groups


def find_refusal(transcript: Transcript, min_confidence: float) -> _Found | None:
    """The earliest refusal of any party at or above `min_confidence`."""
    best: _Found | None = None
    for (channel, _speaker), words in _parties(transcript).items():
        for refusal in detect_refusals(words, language=transcript.language):
            if refusal.confidence < min_confidence:
                continue
            if best is None or refusal.start < best.start:
                best = _Found(
                    channel,
                    refusal.start,
                    refusal.end,
                    refusal.text,
                    refusal.confidence,
                    refusal.phrase,
                    refusal.language,
                )
    return best


def _said_before(utterances: Sequence[Utterance], found: _Found) -> bool:
    """Whether anything was said before the utterance in which the refusal begins: if
    not, the call is a refusal from its start (nothing before it is worth keeping)."""
    opening = found.start
    for u in utterances:
        if u.channel == found.channel and u.start <= found.start <= u.end:
            opening = min(opening, u.start)
    return any(w.end <= opening for u in utterances for w in u.words)


def _position(record: CallRecord, channel: int | None) -> int | None:
    """The participant who spoke on `channel`; None on a mixed leg (who it was cannot
    be told apart)."""
    parties = {p.id: p for p in record.participants}
    for leg in record.legs:
        if leg.channel == channel and leg.participant_id in parties:
            return parties[leg.participant_id].position
    return None


def _refusing(record: CallRecord, position: int | None) -> list[int]:
    """Whose withdrawal to record: the speaker, or on a mixed leg every party who is not
    the agent (any of them may have said it), else every party."""
    if position is not None:
        return [position]
    others = [p.position for p in record.participants if not p.is_agent]
    chosen = others or [p.position for p in record.participants]
    if not chosen:
        raise NotFound(f"call {record.id} has no participant to record a withdrawal for")
    return sorted(chosen)


def detect_and_honour(ctx: Context, call_id: str, transcript: Transcript) -> RefusalRecord | None:
    """Look for a spoken refusal in the call's (just stored) transcript and record and
    honour or flag it as `Config.spoken_refusal` says; None when there is none (or the
    setting is off, or it was recorded before)."""
    config = ctx.config
    mode = config.spoken_refusal
    if mode == "off":
        return None
    found = find_refusal(transcript, config.refusal_min_confidence)
    if found is None:
        return None
    vault = ctx.vault
    for earlier in vault.refusals.list_detections(call_id=call_id):
        if abs(earlier.start - found.start) >= _SAME_MOMENT_S:
            continue
        if earlier.status == "pending":  # an attempt that died before it was honoured
            return honour(ctx, earlier, actor=ctx.actor)
        log.info("call %s: refusal %s recorded before; not again", call_id, earlier.id)
        return None
    record = vault.calls.get_call(call_id, purpose="spoken refusal")
    position = _position(record, found.channel)
    refused = not _said_before(transcript.utterances, found)
    held = vault.holds.is_held(call_id)
    status = "pending" if mode == "honour" and not held else "flagged"
    detection = vault.refusals.record_detection(
        call_id,
        channel=found.channel,
        position=position,
        start=found.start,
        end=found.end,
        confidence=found.confidence,
        phrase=found.phrase,
        language=found.language,
        words=found.text,
        decision=mode,
        status=status,
        outcome="erased" if refused else None,
        actor=ctx.actor,
    )
    if status == "flagged":
        if held:
            vault.record_event(
                "refusal.held",
                "call",
                call_id,
                actor=ctx.actor,
                details={"detection_id": detection.id},
            )
        log.info("call %s: spoken refusal flagged for review", call_id)
        return detection
    return honour(ctx, detection, actor=ctx.actor)


def honour(ctx: Context, detection: RefusalRecord, *, actor: str) -> RefusalRecord:
    """Quarantine the recording, record the withdrawal, then cut or silence the call."""
    vault = ctx.vault
    config = ctx.config
    call_id = detection.call_id
    vault.holds.check_erasable(call_id)
    if not detection.quarantined:
        detection = vault.refusals.quarantine(
            detection.id, days=config.refusal_quarantine_days, actor=actor
        )
    mode = config.on_withdrawal
    why = f"spoken refusal to be recorded (detection {detection.id})"
    record = vault.calls.get_call(call_id, actor=actor, purpose=why)
    withdrawals = [
        vault.rewrites.record_call_withdrawal(
            call_id,
            position,
            detection.start,
            refused=detection.outcome == "erased",
            reason=why,
            mode=mode,
            actor=actor,
        )
        for position in _refusing(record, detection.position)
    ]
    withdrawal = withdrawals[0]
    erase = (
        detection.outcome == "erased"
        or CutAt(withdrawal.at_seconds).frame(withdrawal.sample_rate) <= 0
        or withdrawal.consent_state == "quarantined"
        or mode == "discard-call"
    )
    if erase:
        rewrite_call(
            vault,
            call_id,
            SilenceAll(),
            lambda u: None,
            action=SILENCE_ACTION,
            reason=why,
            actor=actor,
        )
    else:
        rewrite_call(
            vault,
            call_id,
            CutAt(withdrawal.at_seconds),
            cut_utterance(withdrawal.at_seconds),
            action="recording.cut",
            reason=why,
            actor=actor,
        )
    applied = vault.refusals.mark(
        detection.id,
        status="applied",
        outcome="erased" if erase else "cut",
        consent_ids=[c for w in withdrawals for c in w.consent_ids],
    )
    log.info("call %s: spoken refusal honoured (%s)", call_id, applied.outcome)
    return applied
