"""Reads of stored calls for the edges: a page of calls, one call's record, its audio,
its insights and their corrections. Each is one audited read of the storage, named for
what the CLI, the API and the web pages ask."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from callvault.services._context import Context
from callvault.services.voice import AnonymizedWav, anonymized_wav, listener_anonymizes
from callvault.vault import (
    BlobReader,
    CallFilter,
    CallRecord,
    CallSummary,
    CorrectionRecord,
    TranscriptInfo,
)

__all__ = [
    "call_record",
    "count_calls",
    "insight_history",
    "list_calls",
    "listen_recording",
    "read_insights",
    "transcript_info",
]


def list_calls(
    ctx: Context,
    where: CallFilter | None = None,
    *,
    limit: int | None = None,
    offset: int = 0,
    actor: str | None = None,
    purpose: str | None = None,
) -> list[CallSummary]:
    """Calls, newest first, those `where` covers; the listing is audited."""
    return ctx.vault.calls.list_calls(
        where, limit=limit, offset=offset, actor=actor, purpose=purpose
    )


def count_calls(ctx: Context, where: CallFilter | None = None) -> int:
    """How many calls `list_calls(where)` finds with no limit (not audited: a count)."""
    return ctx.vault.calls.count_calls(where)


def call_record(
    ctx: Context, call_id: str, *, actor: str | None = None, purpose: str | None = None
) -> CallRecord:
    """One call with its participants, legs and recording (audited)."""
    return ctx.vault.calls.get_call(call_id, actor=actor, purpose=purpose)


@contextmanager
def listen_recording(
    ctx: Context,
    call_id: str,
    *,
    actor: str | None = None,
    purpose: str | None = None,
    role: str | None = None,
) -> Iterator[BlobReader | AnonymizedWav]:
    """The stored audio everyone hears, opened for reading (audited `recording.listen`).
    A listener in `role` that CALLVAULT_VOICE_ANONYMIZE covers (every role but
    compliance, when it is not off) gets the audio with those voices anonymised, as WAV
    (audited `recording.anonymized`; issue 22)."""
    mode = listener_anonymizes(ctx.config, role)
    if mode is not None:
        yield anonymized_wav(ctx, call_id, mode, actor=actor, purpose=purpose)
        return
    with ctx.vault.calls.open_recording(
        call_id, action="recording.listen", actor=actor, purpose=purpose
    ) as reader:
        yield reader


def read_insights(
    ctx: Context, call_id: str, *, actor: str | None = None, purpose: str | None = None
) -> bytes | None:
    """The call's insights document, decrypted, or None (audited `insights.read`)."""
    return ctx.vault.artifacts.read_insights(call_id, actor=actor, purpose=purpose)


def read_insights_many(
    ctx: Context, call_ids: Iterable[str], *, actor: str | None = None, purpose: str | None = None
) -> dict[str, bytes]:
    """The insights documents of many calls, by call id (each read audited
    `insights.read`, in batches); calls without insights or refused are left out."""
    return ctx.vault.artifacts.read_insights_many(call_ids, actor=actor, purpose=purpose)


def insight_history(
    ctx: Context, call_id: str, *, actor: str | None = None, purpose: str | None = None
) -> list[CorrectionRecord]:
    """The corrections of the call's insights, oldest first (audited `correction.read`)."""
    records = ctx.vault.corrections.corrections(call_id, actor=actor, purpose=purpose)
    return [r for r in records if r.target == "insight"]


def transcript_info(ctx: Context, call_id: str) -> TranscriptInfo | None:
    """What is known about the call's transcript without reading it (no text)."""
    return ctx.vault.transcripts.transcript_info(call_id)
