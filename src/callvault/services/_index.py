"""The search index's rows of a stored transcript: what processing, rectification,
rewriting and reindexing write, each in the transaction that stores the transcript."""

from __future__ import annotations

from collections.abc import Mapping

from callvault.analysis import Transcript
from callvault.search import IndexRow
from callvault.services._speakers import Speaker
from callvault.vault import CallRecord

__all__ = ["index_rows"]


def index_rows(
    record: CallRecord, speakers: Mapping[int, Speaker], transcript: Transcript
) -> list[IndexRow]:
    """One search row per utterance of `transcript`, with its speaker's role."""
    return [
        IndexRow(
            call_id=record.id,
            recording_id=record.recording.id,
            utterance=position,
            speaker=u.speaker,
            role=speakers[u.channel].role
            if u.channel is not None and u.channel in speakers
            else None,
            agent=record.agent,
            language=transcript.language,
            started_at=record.started_at,
            start=u.start,
            end=u.end,
            text=u.text,
        )
        for position, u in enumerate(transcript.utterances)
    ]
