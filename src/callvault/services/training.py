"""Use case: a de-identified export of calls for training models (issue 22).

Per exported call, `transcripts/<opaque>.jsonl`: one line per utterance with its role
(agent, customer or speaker), start and end (seconds into the call) and its text
scrubbed (`_deidentify`): the stored, redacted transcript with the PII detector run
again, every name and number known for the call and every digit sequence replaced by a
placeholder. Call ids are replaced by random opaque ids of which no mapping is kept,
the call's date is kept to the day, and agent usernames are dropped. With audio, the
anonymised voices (`services.voice.anonymized_audio`) as `audio/<opaque>.wav`.

`calls.jsonl` lists the exported calls (opaque id, day, direction, language, duration);
`DATASHEET.md` and `datasheet.json` say what was removed and what was left out.

Calls left out: restricted ones (GDPR art. 18), quarantined ones, calls without a
transcript, and calls whose parties did not all consent to the `training` scope
(secondary use needs its own consent: `callvault consent add --scope training`).

The export is written into a hidden directory beside `out_dir` and renamed when
complete; `out_dir` must not exist or be empty, and never lies inside the data
directory. One audit event `training.export` (counts and the source call ids).
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callvault import __version__
from callvault.analysis import Transcript
from callvault.analysis.pii import PiiDetector, PiiParams, redact_transcript
from callvault.errors import InputError
from callvault.services._context import Context
from callvault.services._deidentify import Scrubber, placeholders
from callvault.services.access import TRAINING_EXPORT, require
from callvault.services.callinfo import call_record, list_calls
from callvault.services.calls import export_destination
from callvault.services.voice import anonymized_audio, wav_bytes
from callvault.vault import CallFilter, CallRecord, CallSummary, create_private

__all__ = ["TrainingExport", "export_training"]

SCHEMA = "callvault.training-export/1"


@dataclass(frozen=True)
class TrainingExport:
    """What an export wrote and what it removed (the data sheet's figures)."""

    out_dir: Path
    calls: int
    utterances: int
    audio: bool
    entities: dict[str, int]  # placeholders in the exported text, by entity
    detected_at_export: dict[str, int]  # of those, what the detector found again
    names_dropped: int
    numbers_dropped: int
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> calls

    def to_json(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "calls": self.calls,
            "utterances": self.utterances,
            "audio": self.audio,
            "entities": dict(self.entities),
            "detected_at_export": dict(self.detected_at_export),
            "names_dropped": self.names_dropped,
            "numbers_dropped": self.numbers_dropped,
            "skipped": dict(self.skipped),
        }


def _destination(ctx: Context, out_dir: Path) -> Path:
    target = export_destination(ctx.vault, out_dir, overwrite=True)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(f"{out_dir}: already exists and is not an empty directory; export "
                         "into a new or empty one")  # fmt: skip
    return target


def _role_of(record: CallRecord, speaker: str, channel: int | None) -> str:
    by_id = {p.id: p for p in record.participants}
    for leg in record.legs:
        if leg.channel == channel and leg.participant_id in by_id:
            return "agent" if by_id[leg.participant_id].is_agent else "customer"
    if record.agent is not None and speaker == record.agent:
        return "agent"
    return "speaker"


def _write(path: Path, data: bytes) -> None:
    with create_private(path) as handle:
        handle.write(data)


@dataclass
class _Tally:
    """What the export removed so far (the data sheet's figures)."""

    entities: Counter[str] = field(default_factory=Counter)
    detected: Counter[str] = field(default_factory=Counter)
    names: int = 0
    numbers: int = 0
    utterances: int = 0


def _skip_reason(ctx: Context, call: CallSummary, restricted: Mapping[str, str]) -> str | None:
    if call.id in restricted:
        return "restricted"
    if call.consent_state == "quarantined":
        return "quarantined"
    if not ctx.vault.consent.every_party_consented(call.id, "training"):
        return "no-training-consent"
    return None


def _transcript_lines(
    ctx: Context, call_id: str, detector: PiiDetector, tally: _Tally, purpose: str
) -> tuple[list[str], str | None] | None:
    """The call's utterances as de-identified JSON lines, and its language; None when
    it has no transcript."""
    raw = ctx.vault.transcripts.read_transcript(call_id, actor=ctx.actor, purpose=purpose)
    if raw is None:
        return None
    record = call_record(ctx, call_id, actor=ctx.actor, purpose=purpose)
    transcript = Transcript.from_json(raw)
    known = [p.name for p in record.participants if p.name]
    known += [p.phone for p in record.participants if p.phone]
    if record.agent:
        known.append(record.agent)
    scrubber = Scrubber.of(known)
    before = sum((placeholders(u.text) for u in transcript.utterances), Counter[str]())
    if transcript.utterances:
        found = detector.detect(transcript)
        transcript = redact_transcript(transcript, found, detector=detector)
    after = sum((placeholders(u.text) for u in transcript.utterances), Counter[str]())
    lines = []
    for u in transcript.utterances:
        text = scrubber.scrub(u.text)
        tally.entities.update(placeholders(text))
        line = {
            "role": _role_of(record, u.speaker, u.channel),
            "start": round(u.start, 2),
            "end": round(u.end, 2),
            "text": text,
        }
        lines.append(json.dumps(line, ensure_ascii=False))
    tally.detected.update(after - before)
    tally.names += scrubber.names_dropped
    tally.numbers += scrubber.numbers_dropped
    tally.utterances += len(lines)
    return lines, transcript.language or record.language


def export_training(
    ctx: Context,
    out_dir: Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    with_audio: bool = False,
    purpose: str,
) -> TrainingExport:
    """Write a de-identified training set of the calls started in [since, until] into
    `out_dir` (see the module); admin and compliance only."""
    require(ctx.who, TRAINING_EXPORT)
    if not purpose or not purpose.strip():
        raise InputError("a training export needs a purpose (--purpose)")
    target = _destination(ctx, out_dir)
    voice = anonymized_audio if with_audio else None
    calls = list_calls(
        ctx, CallFilter.of(since=since, until=until), actor=ctx.actor, purpose=purpose
    )
    restricted = ctx.vault.restrictions.restricted_calls([c.id for c in calls])
    detector = PiiDetector(PiiParams(entities=ctx.config.redaction_entities))
    skipped: Counter[str] = Counter()
    tally = _Tally()
    index: list[dict[str, Any]] = []
    exported: list[str] = []
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    tmp.mkdir(mode=0o700)
    try:
        (tmp / "transcripts").mkdir(mode=0o700)
        if voice is not None:
            (tmp / "audio").mkdir(mode=0o700)
        for call in calls:
            why = _skip_reason(ctx, call, restricted)
            done = None if why else _transcript_lines(ctx, call.id, detector, tally, purpose)
            if done is None:
                skipped[why or "no-transcript"] += 1
                continue
            lines, language = done
            opaque = secrets.token_hex(12)  # random: nothing maps it back to the call
            body = "".join(f"{line}\n" for line in lines).encode()
            _write(tmp / "transcripts" / f"{opaque}.jsonl", body)
            entry: dict[str, Any] = {
                "id": opaque,
                "day": (call.started_at or call.created_at).date().isoformat(),
                "direction": call.direction,
                "language": language,
                "duration_s": round(call.duration_s, 1),
                "utterances": len(lines),
                "transcript": f"transcripts/{opaque}.jsonl",
                "audio": None,
            }
            if voice is not None:
                samples, rate = voice(ctx, call.id, speaker_role=None, purpose=purpose)
                _write(tmp / "audio" / f"{opaque}.wav", wav_bytes(samples, rate))
                entry["audio"] = f"audio/{opaque}.wav"
            index.append(entry)
            exported.append(call.id)
        result = TrainingExport(
            out_dir=target,
            calls=len(index),
            utterances=tally.utterances,
            audio=voice is not None,
            entities=dict(sorted(tally.entities.items())),
            detected_at_export=dict(sorted(tally.detected.items())),
            names_dropped=tally.names,
            numbers_dropped=tally.numbers,
            skipped=dict(sorted(skipped.items())),
        )
        index.sort(key=lambda e: (e["day"], e["id"]))  # not the calls' order: nothing to join
        _write(tmp / "calls.jsonl", "".join(json.dumps(e) + "\n" for e in index).encode())
        sheet = datasheet(ctx, result, since=since, until=until, purpose=purpose)
        _write(tmp / "datasheet.json", json.dumps(sheet, indent=2).encode())
        _write(tmp / "DATASHEET.md", datasheet_markdown(sheet).encode())
        if target.exists():
            target.rmdir()  # empty (checked above)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    ctx.vault.record_event(
        "training.export",
        "export",
        None,
        purpose=purpose,
        actor=ctx.actor,
        details={"calls": exported, "skipped": dict(skipped), "audio": voice is not None},
    )
    return result


def datasheet(
    ctx: Context,
    result: TrainingExport,
    *,
    since: datetime | None,
    until: datetime | None,
    purpose: str,
) -> dict[str, Any]:
    """The data sheet of an export: what is in it, what was removed, what was left out."""
    return {
        "schema": SCHEMA,
        "created": datetime.now(UTC).date().isoformat(),
        "callvault_version": __version__,
        "purpose": purpose,
        "period": {
            "since": since.date().isoformat() if since else None,
            "until": until.date().isoformat() if until else None,
        },
        "calls": result.calls,
        "utterances": result.utterances,
        "removed": {
            "entities": result.entities,
            "entities_detected_again_at_export": result.detected_at_export,
            "names_replaced": result.names_dropped,
            "numbers_replaced": result.numbers_dropped,
            "call_ids": "replaced by random opaque ids; no mapping is kept",
            "dates": "the call's start kept to the day; times of day dropped",
            "agents": "usernames dropped; speakers are agent, customer or speaker",
            "participants": "names and numbers of the call's participants replaced",
            "voices": "anonymised (services.voice.anonymized_audio)"
            if result.audio
            else "audio omitted",
        },
        "skipped": {
            "counts": result.skipped,
            "reasons": {
                "restricted": "processing restricted (GDPR art. 18)",
                "quarantined": "waiting for the parties' consent to recording",
                "no-training-consent": "not every party consented to the training scope "
                "(secondary use)",
                "no-transcript": "not transcribed",
            },
        },
        "privacy_settings": {
            "team_min_group": ctx.config.team_min_group,
            "team_epsilon": ctx.config.team_epsilon,
            "note": "k and epsilon govern the team views; this export is de-identified "
            "per call, without aggregation or noise",
        },
    }


def datasheet_markdown(sheet: dict[str, Any]) -> str:
    removed = sheet["removed"]
    entity_lines = "".join(f"| {k} | {v} |\n" for k, v in removed["entities"].items()) or (
        "| (none) | 0 |\n"
    )
    skipped = sheet["skipped"]
    skip_lines = "".join(
        f"| {why} | {skipped['counts'].get(why, 0)} | {text} |\n"
        for why, text in skipped["reasons"].items()
    )
    return (
        "# Data sheet: callvault training export\n\n"
        f"- created: {sheet['created']} by callvault {sheet['callvault_version']}\n"
        f"- purpose: {sheet['purpose']}\n"
        f"- period: {sheet['period']['since'] or 'any'} to {sheet['period']['until'] or 'any'}\n"
        f"- calls: {sheet['calls']}, utterances: {sheet['utterances']}\n\n"
        "## What was removed\n\n"
        "| placeholder | count |\n|---|---|\n"
        f"{entity_lines}\n"
        f"- names replaced by [PERSON]: {removed['names_replaced']}\n"
        f"- numbers replaced by [NUMBER]: {removed['numbers_replaced']}\n"
        f"- call ids: {removed['call_ids']}\n"
        f"- dates: {removed['dates']}\n"
        f"- agents: {removed['agents']}\n"
        f"- participants: {removed['participants']}\n"
        f"- voices: {removed['voices']}\n\n"
        "## Calls left out\n\n| reason | calls | why |\n|---|---|---|\n"
        f"{skip_lines}\n"
        "## Settings\n\n"
        f"- team_min_group (k): {sheet['privacy_settings']['team_min_group']}\n"
        f"- team_epsilon: {sheet['privacy_settings']['team_epsilon']}\n"
        f"- {sheet['privacy_settings']['note']}\n"
    )
