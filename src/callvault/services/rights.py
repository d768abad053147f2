"""Use cases for data subjects' rights: find, export (access, GDPR art. 15 and 20) and
erase (art. 17) every call of one person, named by phone number or participant name.

Calls are erased whole, or (scope "leg", issue 4 item 9) only the subject's own channel
and utterances where other people took part. A request is refused as a whole, before
anything is erased, when one of the subject's calls is under legal hold or a retention
duty still runs.

The audit chain gets ids and counts only, never the subject: it cannot be edited, so a
number or a name written into it could never be erased.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callvault.capture import parse_e164
from callvault.config import SUBJECT_ERASURE_MODES
from callvault.errors import ErasureRefused, InputError
from callvault.jobs import cancel_jobs_of
from callvault.media import SilenceChannels
from callvault.search import SearchIndex
from callvault.services._context import Context
from callvault.services._rewrite import rewrite_call, without_channels
from callvault.services.calls import call_document, export_destination, part_file
from callvault.vault import (
    LEG_ERASE_ACTION,
    ErasureBlock,
    SubjectCall,
    create_private,
)

__all__ = [
    "ErasureBlock",
    "SubjectCall",
    "SubjectErasure",
    "SubjectExport",
    "SubjectSearch",
    "erase_subject",
    "export_subject",
    "find_subject",
]

_REASON_LIMIT = 256  # reasons go into audit_log.purpose, a VARCHAR(256)

# Audio container (as the probe names it) -> file name extension in an export.
_EXTENSIONS = {
    "wav": "wav",
    "flac": "flac",
    "mp3": "mp3",
    "ogg": "ogg",
    "matroska,webm": "webm",
    "mov,mp4,m4a,3gp,3g2,mj2": "m4a",
}


@dataclass(frozen=True)
class SubjectSearch:
    """`rights find`: the (normalised) subject and the calls they took part in."""

    subject: str
    calls: tuple[SubjectCall, ...]

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "calls": [c.to_json() for c in self.calls]}


@dataclass(frozen=True)
class SubjectExport:
    """`rights export`: what was written to the zip file."""

    subject: str
    out: Path
    call_ids: tuple[str, ...]
    files: tuple[str, ...]
    size_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "out": str(self.out),
            "calls": list(self.call_ids),
            "files": list(self.files),
            "size_bytes": self.size_bytes,
        }


@dataclass(frozen=True)
class SubjectErasure:
    """`rights erase`: the calls erased whole (by crypto-shredding) and, with the "leg"
    scope, the calls of which only the subject's channel and utterances were erased."""

    subject: str
    erased: tuple[str, ...]
    partial: tuple[str, ...] = ()
    scope: str = "call"

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"subject": self.subject, "erased": list(self.erased)}
        if self.scope == "leg":
            document |= {"scope": self.scope, "partial": list(self.partial)}
        return document


def _normalised(subject: str) -> str:
    # The vault normalises the same way when it searches; this is what the output shows.
    text = subject.strip()
    return parse_e164(text, option="the subject") if text.startswith("+") else text


def find_subject(
    ctx: Context, subject: str, *, purpose: str | None = None, actor: str | None = None
) -> SubjectSearch:
    """The calls of a subject (audited as `rights.find`, ids and a count only)."""
    vault = ctx.vault
    calls = vault.holds.subject_calls(subject, actor=actor, purpose=purpose)
    return SubjectSearch(_normalised(subject), tuple(calls))


# -- export ------------------------------------------------------------------------------


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def _readme(subject: str, generated_at: str, files: list[tuple[str, str]]) -> bytes:
    lines = [
        "Export of the personal data held about one data subject (GDPR art. 15 and 20).",
        "",
        f"Subject: {subject}",
        f"Generated at: {generated_at}",
        "",
        "Every file in this archive:",
        "",
        "README.txt  this file",
    ]
    lines += [f"{name}  {what}" for name, what in files]
    lines += [
        "",
        "Times are ISO 8601 with time zone. JSON files are UTF-8. Audio files are the",
        "original recordings, bit-exact, as they were received.",
        "",
    ]
    return "\n".join(lines).encode()


def export_subject(
    ctx: Context,
    subject: str,
    out: Path,
    *,
    purpose: str | None = None,
    overwrite: bool = False,
    actor: str | None = None,
) -> SubjectExport:
    """Write a zip of everything held about `subject` to `out` (see docs/json.md).

    Every read goes through the vault's audited paths; the archive is written to a
    temporary file next to `out` and renamed into place at the end, so a failure leaves
    nothing behind. Audited as `rights.export` (ids and counts only).
    """
    vault = ctx.vault
    target = export_destination(vault, out, overwrite=overwrite)
    who = _normalised(subject)
    calls = vault.holds.subject_calls(subject, actor=actor, purpose=purpose)
    # The subject's right of access holds while they restrict processing (GDPR art. 15
    # and 18(2), with their consent): the reads name that ground, not a bypass.
    access = f"subject-consent: {purpose or 'access request'}"[:_REASON_LIMIT]
    generated_at = datetime.now(UTC).isoformat()
    tmp = part_file(target)
    listed: list[tuple[str, str]] = []
    objects: set[str] = set()
    try:
        with create_private(tmp) as handle:  # 0600 whatever the umask
            with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:

                def add(name: str, what: str, data: bytes) -> None:
                    archive.writestr(name, data)
                    listed.append((name, what))

                add(
                    "subject.json",
                    "the subject, the calls found and when this export was made",
                    _json_bytes(
                        {
                            "subject": who,
                            "generated_at": generated_at,
                            "calls": [c.to_json() for c in calls],
                        }
                    ),
                )
                for call in calls:
                    folder = f"calls/{call.call_id}"
                    document = call_document(ctx, call.call_id, purpose=access)
                    recording = document["recording"]
                    objects |= {call.call_id, recording["id"]}
                    add(
                        f"{folder}/call.json",
                        "the call: participants, legs, recording and transcript",
                        _json_bytes(document),
                    )
                    ext = _EXTENSIONS.get(recording["container"], "bin")
                    name = f"{folder}/audio.{ext}"
                    # Audio is already compressed or not worth the CPU: stored as is.
                    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_STORED
                    with (
                        vault.calls.open_recording(
                            call.call_id, action="recording.export", purpose=access, actor=actor
                        ) as reader,
                        archive.open(info, "w", force_zip64=True) as member,
                    ):
                        for chunk in reader.iter_chunks():
                            member.write(chunk)
                    listed.append((name, "the original recording of the call, decrypted"))
                consents = [
                    c.to_json()
                    for c in vault.consent.consents(actor=actor)
                    if _same_subject(c.participant, who)
                ]
                objects |= {c["id"] for c in consents}
                add(
                    "consents.json",
                    "the consent records of the subject",
                    _json_bytes({"consents": consents}),
                )
                entries = vault.audit_entries_about(objects)
                add(
                    "audit.json",
                    "the audit log entries about these calls, recordings and consents",
                    _json_bytes({"entries": [e.to_dict() for e in entries]}),
                )
                archive.writestr("README.txt", _readme(who, generated_at, listed))
            handle.flush()
            os.fsync(handle.fileno())
        size = tmp.stat().st_size
        call_ids = tuple(c.call_id for c in calls)
        vault.record_event(
            "rights.export",
            "subject",
            None,
            purpose=purpose,
            actor=actor,
            details={"calls": list(call_ids), "files": len(listed) + 1, "bytes": size},
        )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    files = ("README.txt", *(name for name, _ in listed))
    return SubjectExport(who, out, call_ids, files, size)


def _same_subject(participant: str, subject: str) -> bool:
    if subject.startswith("+"):
        return participant == subject
    return participant.lower() == subject.lower()


# -- erasure -----------------------------------------------------------------------------


def erase_subject(
    ctx: Context,
    subject: str,
    *,
    reason: str,
    actor: str | None = None,
    now: datetime | None = None,
    scope: str | None = None,
) -> SubjectErasure:
    """Erase every call of `subject`: search rows, then crypto-shredding, all in one go.

    `scope` (default: the `subject_erasure` setting): "call" erases each call whole;
    "leg" erases, of a call with other participants where the subject has a channel of
    their own, only that channel (silenced, under a new data key), their utterances and
    search rows, and their number and name, marking the call `erasure_state` "partial";
    their other calls (alone, mono, or no channel of their own) are erased whole.

    Refused as a whole (ErasureRefused, nothing erased) when any of the calls is under a
    legal hold or a retention duty that runs past `now`; the message names every
    blocking call and its rule. One `rights.erase` entry sums up the request, besides
    each call's own `call.erase` or `recording.erase-leg` entry.
    """
    vault = ctx.vault
    why = reason.strip()
    if not why:
        raise InputError("the reason is empty; say why (it is written to the audit log)")
    if len(why) > _REASON_LIMIT:
        raise InputError(f"the reason has {len(why)} characters; keep it to {_REASON_LIMIT}")
    mode = vault.config.subject_erasure if scope is None else scope
    if mode not in SUBJECT_ERASURE_MODES:
        raise InputError(
            f"erasure scope {mode!r} is unknown; use one of {', '.join(SUBJECT_ERASURE_MODES)}"
        )
    who = _normalised(subject)
    calls = vault.holds.subject_calls(subject, actor=actor, purpose=why)
    call_ids = [c.call_id for c in calls]
    blocks = vault.holds.erasure_blocks(call_ids, now or datetime.now(UTC))
    if blocks:
        raise ErasureRefused(
            "the erasure request is refused and nothing was erased: "
            + "; ".join(b.describe() for b in blocks),
            call_id=blocks[0].call_id,
            hold_id=blocks[0].hold_id,
        )
    plans = (
        [p for p in vault.rewrites.leg_plans(subject, call_ids) if p.partial]
        if mode == "leg"
        else []
    )
    legs = {p.call_id: p for p in plans}
    whole = [c for c in call_ids if c not in legs]
    erased: list[str] = []
    partial: list[str] = []
    try:
        if whole:
            # The search rows first (the only other copy of transcript text), then every
            # call in one transaction: a hold that arrives meanwhile refuses them all.
            SearchIndex(vault.engine, vault.search_key).purge_calls(whole)
            with vault.transaction(actor=actor) as tx:
                certificates = vault.calls.delete_calls(whole, reason=why, actor=actor, tx=tx)
                # Their queued work goes with them, at the time the erasure certifies.
                cancel_jobs_of(tx.session, whole, now=certificates[0].erased_at)
            erased = whole
        for plan in plans:
            rewrite_call(
                vault,
                plan.call_id,
                SilenceChannels(plan.channels),
                without_channels(plan.channels),
                action=LEG_ERASE_ACTION,
                reason=why,
                actor=actor,
                blank_participants=plan.participant_ids,
                erasure_state="partial",
            )
            partial.append(plan.call_id)
    finally:
        # Also when a hold arrived meanwhile: the chain says what was and was not erased.
        vault.record_event(
            "rights.erase",
            "subject",
            None,
            purpose=why,
            actor=actor,
            details={
                "calls": call_ids,
                "erased": erased,
                "partial": partial,
                "scope": mode,
                "complete": len(erased) + len(partial) == len(call_ids),
                "method": "crypto-shredding",
            },
        )
    return SubjectErasure(who, tuple(erased), tuple(partial), mode)
