"""Use case: record a consent, and queue a quarantined call once its consent is complete.

A call kept in quarantine (`consent_missing = quarantine`) has not been transcribed. The
consent that completes it releases it in the vault's transaction; this use case then
queues its processing, as ingest would have done.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callvault.config import Config
from callvault.services.jobs import enqueue_processing, open_queue
from callvault.vault import ConsentRecord, Vault

__all__ = ["ConsentAdded", "add_consent"]


@dataclass(frozen=True)
class ConsentAdded:
    record: ConsentRecord
    released: bool  # the call left quarantine with this consent
    job_id: str | None  # its processing job, when released

    def to_json(self) -> dict[str, Any]:
        return {**self.record.to_json(), "released": self.released, "job_id": self.job_id}


def add_consent(
    config: Config,
    participant: str,
    *,
    method: str,
    scopes: Iterable[str],
    call_id: str | None = None,
    given_at: datetime | None = None,
    note: str | None = None,
    actor: str | None = None,
) -> ConsentAdded:
    """Record a consent (for `call_id`, or standing); a quarantined call that every party
    has now consented to is released and queued for processing."""
    with Vault.open(config) as vault:
        before = vault.consent_state(call_id) if call_id is not None else None
        record = vault.record_consent(
            participant,
            method=method,
            scopes=scopes,
            call_id=call_id,
            given_at=given_at,
            note=note,
            actor=actor,
        )
        if call_id is None or before != "quarantined":
            return ConsentAdded(record, released=False, job_id=None)
        if vault.consent_state(call_id) == "quarantined":
            return ConsentAdded(record, released=False, job_id=None)
        recording_id = vault.get_call(call_id, purpose="queue processing").recording.id
        job = enqueue_processing(open_queue(config, vault), call_id, recording_id)
        return ConsentAdded(record, released=True, job_id=job.id)
