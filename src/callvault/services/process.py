"""Use case: turn a stored recording into a transcript (and, once indexed, searchable text)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from callvault.analysis import AsrParams, PipelineParams, Transcript, TranscriptionPipeline
from callvault.config import Config
from callvault.search import IndexRow, SearchIndex, SemanticIndex
from callvault.services._context import Context
from callvault.services._index import index_rows
from callvault.services._rewrite import edit_transcript
from callvault.services._speakers import Speaker, speakers_by_channel
from callvault.services._spoken_refusal import detect_and_honour
from callvault.services.insights import RedactionPlan, analyse, insights_document, mark_applied
from callvault.services.rectify import reapply_corrections
from callvault.services.scorecards import score_processed
from callvault.vault import CallRecord, RefusalRecord, Transaction, Vault

__all__ = [
    "PROCESS_TASK",
    "ProcessResult",
    "process_call",
    "transcript_json",
]

log = logging.getLogger("callvault.services")

PROCESS_TASK = "process_call"
Progress = Callable[[float, str], None]

# Share of the whole job each pipeline stage takes, for one progress bar.
_STAGE_SPAN = {
    "decode": (0.0, 0.05),
    "vad+asr": (0.05, 0.82),
    "speakers": (0.82, 0.9),
    "merge": (0.9, 0.91),
    "pii": (0.91, 0.93),
    "metrics": (0.93, 0.935),
    "sentiment": (0.935, 0.94),
    "keywords": (0.94, 0.95),
    "trackers": (0.95, 0.955),
    "summary": (0.955, 0.96),
    "actions": (0.96, 0.965),
    "embed": (0.965, 0.975),
    "redact-audio": (0.975, 0.99),
}


@dataclass(frozen=True)
class ProcessResult:
    call_id: str
    recording_id: str
    status: str
    language: str | None
    utterances: int
    words: int
    model: str
    seconds: float
    redactions: int = 0  # personal data found in the transcript
    audio_spans: int = 0  # spans cut out of the audio (findings and DTMF tones)
    original_kept: bool = False
    insight_seconds: float = 0.0  # redaction and insight stages together
    stored: bool = True  # False: this run's token had stored already (an earlier attempt)
    refusal: RefusalRecord | None = None  # a spoken refusal found and recorded (issue 20)

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "recording_id": self.recording_id,
            "status": self.status,
            "language": self.language,
            "utterances": self.utterances,
            "words": self.words,
            "model": self.model,
            "seconds": round(self.seconds, 2),
            "redactions": self.redactions,
            "audio_spans": self.audio_spans,
            "original_kept": self.original_kept,
            "insight_seconds": round(self.insight_seconds, 3),
        }


def pipeline_for(config: Config) -> TranscriptionPipeline:
    return TranscriptionPipeline(
        PipelineParams(
            model_cache=config.model_cache,
            model_overrides=config.asr_models,
            asr=AsrParams(beam_size=config.asr_beam_size),
            diarization=config.diarization,
            max_duration=config.max_duration,
        )
    )


def _hook(progress: Progress | None) -> Callable[[str, float], None]:
    def report(stage: str, fraction: float) -> None:
        if progress is not None:
            low, high = _STAGE_SPAN.get(stage, (0.0, 1.0))
            progress(low + (high - low) * fraction, stage)

    return report


def _transcribe(
    vault: Vault,
    record: CallRecord,
    speakers: Mapping[int, Speaker],
    pipeline: TranscriptionPipeline,
    progress: Progress | None,
) -> Transcript:
    with vault.calls.open_recording(record.id, purpose="transcription") as reader:
        return pipeline.run(
            reader.as_file,
            channels_to_speakers={channel: s.label for channel, s in speakers.items()},
            language=record.language,
            hook=_hook(progress),
            name=f"recording of call {record.id}",
        )


def process_call(
    ctx: Context,
    call_id: str,
    *,
    progress: Progress | None = None,
    pipeline: TranscriptionPipeline | None = None,
    run: str | None = None,
) -> ProcessResult:
    """Transcribe a call, cut personal data out of transcript and audio, derive its
    insights, and store it all encrypted; every read is audited.

    Refused (Restricted, which a job queue does not retry) while a restriction of
    processing covers the call. Rectified utterances are carried over to the new
    transcript where the same utterance is found again (`reapply_corrections`). The
    unredacted transcript is never stored. The transcript, its search rows and the
    insights are stored in one transaction; the audio is then rewritten with the same
    spans cut, under a new data key (`services.insights`). A failure in between leaves
    the insights saying the audio redaction is not applied, and the job is retried.

    `run` names this request to process (a queued job carries one, `enqueue_processing`),
    and is kept in the insights' metadata. A run whose token is already stored is a
    second attempt of a job whose first attempt stored and then died (issue 19:
    at-least-once): it stores no second transcript, insights or search rows and
    audits no second store; it only finishes the audio redaction if that is missing.

    Last, a party's spoken refusal to be recorded is looked for in the stored transcript
    and honoured or flagged (`services.refusals`, CALLVAULT_SPOKEN_REFUSAL).
    """
    started = time.perf_counter()
    hook = _hook(progress)
    config = ctx.config
    vault = ctx.vault
    vault.consent.refuse_if_quarantined(call_id)
    vault.consent.refuse_unless_analysis_consented(call_id)
    vault.restrictions.refuse_if_restricted(call_id)
    record = vault.calls.get_call(call_id, purpose="transcription")
    speakers = speakers_by_channel(record)
    transcript = _transcribe(vault, record, speakers, pipeline or pipeline_for(config), progress)
    transcript = reapply_corrections(vault, call_id, transcript)
    held = vault.holds.is_held(call_id)
    analysis = analyse(config, record, speakers, transcript, held=held, hook=hook)
    transcript = analysis.transcript
    plan = analysis.plan
    words = sum(len(u.words) for u in transcript.utterances)
    rows = index_rows(record, speakers, transcript)
    semantic = SemanticIndex(vault.engine, vault.search_key)
    hook("embed", 0.0)
    vectors = semantic.embed_rows(rows)  # before the write transaction: the slow part
    hook("embed", 1.0)
    document = insights_document(analysis, applied=not plan.spans)
    meta: dict[str, Any] = {"format": 1, "stages": _stage_names(analysis)}
    if run is not None:
        meta["run"] = run
    with vault.transaction() as tx:
        # Checked in the transaction that stores, behind the call's row lock: two
        # attempts of one job cannot both find their token missing.
        earlier = vault.artifacts.insights_meta(call_id, tx=tx) if run is not None else None
        stored = run is None or (earlier or {}).get("run") != run
        if stored:
            _store(ctx, call_id, transcript, words, document, meta, rows, vectors, tx)
    if plan.spans and (stored or not _audio_redacted(ctx, call_id)):
        hook("redact-audio", 0.0)
        _redact_audio(vault, call_id, plan, held)
        hook("redact-audio", 1.0)
    # A spoken refusal to be recorded: honoured (cut or silenced, quarantined) or flagged,
    # as CALLVAULT_SPOKEN_REFUSAL says; after everything is stored, through the
    # withdrawal path (`services.refusals`).
    refusal = detect_and_honour(ctx, call_id, transcript) if stored else None
    if refusal is None:  # scored last: a rewrite of the audio drops the scorecard
        score_processed(ctx, call_id, transcript, document)
    if progress is not None:
        progress(1.0, "stored")
    seconds = time.perf_counter() - started
    if stored:
        log.info("processed call %s in %.1f s (%s)", call_id, seconds, transcript.status)
    else:
        log.info("call %s: run already stored by an earlier attempt; nothing stored", call_id)
    return ProcessResult(
        call_id=call_id,
        recording_id=record.recording.id,
        status=transcript.status,
        language=transcript.language,
        utterances=len(transcript.utterances),
        words=words,
        model=f"{transcript.model_name}@{transcript.model_version}",
        seconds=seconds,
        redactions=len(analysis.findings),
        audio_spans=len(plan.spans),
        original_kept=plan.keep_original,
        insight_seconds=analysis.seconds,
        stored=stored,
        refusal=refusal,
    )


def _store(
    ctx: Context,
    call_id: str,
    transcript: Transcript,
    words: int,
    document: bytes,
    meta: Mapping[str, Any],
    rows: list[IndexRow],
    vectors: Any,
    tx: Transaction,
) -> None:
    """The transcript, its insights and its search rows, in the caller's unit of work."""
    vault = ctx.vault
    vault.transcripts.store_transcript(
        call_id,
        transcript.to_json().encode(),
        status=transcript.status,
        language=transcript.language,
        model_name=transcript.model_name,
        model_version=transcript.model_version,
        utterances=len(transcript.utterances),
        words=words,
        insights=(document, meta),
        tx=tx,
    )
    # A restriction added while the call was being transcribed refuses the whole
    # store (GDPR art. 18: fail closed).
    vault.restrictions.refuse_restricted_within(tx.session, call_id)
    SearchIndex(vault.engine, vault.search_key).index_utterances(tx.session, rows)
    SemanticIndex(vault.engine, vault.search_key).index_utterances(tx.session, rows, vectors)


def _audio_redacted(ctx: Context, call_id: str) -> bool:
    """Whether the stored insights say the audio redaction is applied (a read of the
    insights, audited as such)."""
    document = ctx.vault.artifacts.read_insights(call_id, purpose="transcription")
    if document is None:
        return False
    return bool(json.loads(document)["redactions"]["audio"]["applied"])


def _stage_names(analysis: Any) -> list[str]:
    stamps = [analysis.pii_stamp] + [s.stamp.to_json() for s in analysis.insights.stages]
    return [f"{stamp['name']}@{stamp['version']}" for stamp in stamps]


def _redact_audio(vault: Vault, call_id: str, plan: RedactionPlan, held: bool) -> None:
    """Rewrite the audio with the plan's spans cut, under a new data key; the transcript
    (already redacted) is carried over unchanged and the insights say the audio
    redaction is applied."""
    rewrite = vault.rewrites.prepare_rewrite(
        call_id,
        plan.edit(),
        action="recording.redact",
        reason="redaction of personal data",
        keep_original=plan.keep_original,
        held_ok=held,
        transcript=True,
        insights=True,
    )
    try:
        edited = (
            edit_transcript(rewrite.transcript, lambda utterance: utterance)[0]
            if rewrite.transcript is not None
            else None
        )
        marked = mark_applied(rewrite.insights[0]) if rewrite.insights is not None else None
    except BaseException:
        rewrite.abort()
        raise
    vault.rewrites.commit_rewrite(rewrite, transcript=edited, insights=marked)


def transcript_json(document: bytes) -> dict[str, Any]:
    """The stored transcript in the documented `show --json` shape (docs/json.md)."""
    transcript = Transcript.from_json(document)
    return {
        "status": transcript.status,
        "language": transcript.language,
        "model": {"name": transcript.model_name, "version": transcript.model_version},
        "diarized": transcript.diarized,
        "screened": dict(transcript.screened),
        "utterances": [
            {
                "speaker": u.speaker,
                "channel": u.channel,
                "start": round(u.start, 3),
                "end": round(u.end, 3),
                "text": u.text,
                "confidence": round(u.confidence, 3),
                "words": [
                    {
                        "start": round(w.start, 3),
                        "end": round(w.end, 3),
                        "text": w.text,
                        "confidence": round(w.confidence, 3),
                    }
                    for w in u.words
                ],
            }
            for u in transcript.utterances
        ],
    }
