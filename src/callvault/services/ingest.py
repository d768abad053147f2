"""Use case: import audio files into the vault."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callvault.capture import CapturedCall, FileImportOptions, import_file
from callvault.config import Config
from callvault.services.jobs import enqueue_processing, open_queue
from callvault.vault import Vault

__all__ = ["IngestedCall", "ingest_captured", "ingest_files"]

log = logging.getLogger("callvault.services")


@dataclass(frozen=True)
class IngestedCall:
    source: str
    call_id: str
    recording_id: str
    duplicate: bool
    job_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "call_id": self.call_id,
            "recording_id": self.recording_id,
            "duplicate": self.duplicate,
            "job_id": self.job_id,
        }


def ingest_captured(
    config: Config,
    calls: Sequence[CapturedCall],
    *,
    progress: Callable[[CapturedCall], None] | None = None,
) -> list[IngestedCall]:
    """Store calls that have already been checked (the vault is opened only now) and queue
    their transcription; the same recording is queued once."""
    results = []
    with Vault.open(config) as vault:
        queue = open_queue(config, vault)
        for call in calls:
            stored = vault.store_call(call)
            job = enqueue_processing(queue, stored.call_id, stored.recording_id)
            results.append(
                IngestedCall(
                    call.source_name, stored.call_id, stored.recording_id, stored.duplicate, job.id
                )
            )
            if progress is not None:
                progress(call)
    return results


def ingest_files(
    config: Config,
    paths: Sequence[Path],
    options: FileImportOptions,
    *,
    progress: Callable[[CapturedCall], None] | None = None,
) -> list[IngestedCall]:
    """Check every file first, then store them all: one bad input means nothing is written."""
    checked = [import_file(path, options, max_bytes=config.max_input_bytes) for path in paths]
    log.info("checked %d file(s); storing", len(checked))
    return ingest_captured(config, checked, progress=progress)
