"""Use case: record a consent, and queue a call's processing once its consent is complete.

A call kept in quarantine (`consent_missing = quarantine`) has not been transcribed. The
consent that completes it releases it in the vault's transaction; this use case then
queues its processing, as ingest would have done, once every party also consented to
analysis (transcription is analysis).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callvault.services._context import Context
from callvault.services.jobs import enqueue_processing, open_queue
from callvault.vault import ConsentRecord

__all__ = ["ConsentAdded", "add_consent"]


@dataclass(frozen=True)
class ConsentAdded:
    record: ConsentRecord
    released: bool  # the call left quarantine with this consent
    job_id: str | None  # its processing job, when released

    def to_json(self) -> dict[str, Any]:
        return {**self.record.to_json(), "released": self.released, "job_id": self.job_id}


def add_consent(
    ctx: Context,
    participant: str,
    *,
    method: str,
    scopes: Iterable[str],
    call_id: str | None = None,
    given_at: datetime | None = None,
    note: str | None = None,
) -> ConsentAdded:
    """Record a consent (for `call_id`, or standing) as `ctx.actor`; a quarantined call
    that every party has now consented to is released and queued for processing."""
    vault = ctx.vault
    before = vault.consent.consent_state(call_id) if call_id is not None else None
    record = vault.consent.record_consent(
        participant,
        method=method,
        scopes=scopes,
        call_id=call_id,
        given_at=given_at,
        note=note,
        actor=ctx.actor,
    )
    if call_id is None:
        return ConsentAdded(record, released=False, job_id=None)
    released = before == "quarantined" and vault.consent.consent_state(call_id) != "quarantined"
    if (
        not vault.consent.analysis_consented(call_id)
        or vault.transcripts.transcript_info(call_id) is not None
    ):
        return ConsentAdded(record, released=released, job_id=None)
    # Consent to analysis is now complete and nothing was transcribed: queue it (the
    # queue keeps one job per recording, so this does not queue it twice).
    recording_id = vault.calls.get_call(call_id, purpose="queue processing").recording.id
    job = enqueue_processing(open_queue(ctx.config, vault), call_id, recording_id)
    return ConsentAdded(record, released=released, job_id=job.id)
