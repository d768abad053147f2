"""Calls: list, read (metadata, transcript, insights), stream audio with Range, upload,
correct. Access is checked per call; a call out of reach answers 404."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload

from callvault.api._auth import call_scope, principal, reach_agents, require_call, vault_of
from callvault.api._ranges import RangeNotSatisfiable, parse_range
from callvault.capture import FileImportOptions, import_bytes
from callvault.errors import InputError, NotAuthorized
from callvault.services import IngestedCall, call_document, ingest_captured
from callvault.services.access import (
    CALLS_AUDIO,
    CALLS_CORRECT,
    CALLS_INSIGHTS,
    CALLS_LIST,
    CALLS_ORIGINAL,
    CALLS_READ,
    CALLS_TRANSCRIPT,
    CALLS_UPLOAD,
    CallScope,
    Principal,
    can,
    require,
)
from callvault.services.calls import original_wav
from callvault.services.insight_corrections import add_action, correct_insight
from callvault.vault import Vault

router = APIRouter(prefix="/calls", tags=["calls"])

_MEDIA_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg", "ogg": "audio/ogg"}


def actor_of(who: Principal) -> str:
    return f"user:{who.username}"


@router.get("")
def list_calls(
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    agent: str | None = None,
    direction: Annotated[str | None, Query(pattern="^(inbound|outbound|internal)$")] = None,
    language: Annotated[str | None, Query(max_length=16)] = None,
    consent_state: Annotated[str | None, Query(max_length=16)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    purpose: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    """Calls the caller may see, newest first, one page at a time."""
    require(who, CALLS_LIST)
    vault = vault_of(request)
    agents = reach_agents(vault, who, agent)
    filters: dict[str, Any] = {
        "agents": agents,
        "direction": direction,
        "language": language,
        "consent_state": consent_state,
        "since": since,
        "until": until,
    }
    calls = vault.list_calls(
        limit=limit, offset=offset, actor=actor_of(who), purpose=purpose, **filters
    )
    return {
        "calls": [c.to_json() for c in calls],
        "total": vault.count_calls(**filters),
        "limit": limit,
        "offset": offset,
    }


@router.get("/{call_id}")
def get_call(
    call_id: str,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    purpose: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    """The call's record; with the transcript, insights and redactions where the role
    may read them (an auditor sees metadata only). Every read is audited."""
    return readable_call(vault_of(request), who, call_id, purpose)[0]


def readable_call(
    vault: Vault, who: Principal, call_id: str, purpose: str | None
) -> tuple[dict[str, Any], CallScope]:
    """The call's document with the parts `who` may read (transcript, insights), once
    they may read the call at all; and its scope, for further checks. The API's call and
    the web's call page both show this."""
    scope = call_scope(vault, call_id)
    require(who, CALLS_READ, scope)
    document = call_document(
        vault,
        call_id,
        purpose=purpose,
        actor=actor_of(who),
        transcript=can(who, CALLS_TRANSCRIPT, scope),
        insights=can(who, CALLS_INSIGHTS, scope),
    )
    return document, scope


@router.get(
    "/{call_id}/audio",
    response_class=Response,
    responses={206: {"description": "Partial content"}, 416: {"description": "Bad range"}},
)
def get_audio(
    call_id: str,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    purpose: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """The audio everyone hears (redacted once processed), with HTTP Range: only the
    encrypted chunks that hold the bytes asked for are decrypted. Every request is
    audited (`recording.listen`)."""
    vault = vault_of(request)
    require_call(vault, who, CALLS_AUDIO, call_id)
    record = vault.get_call(call_id, actor=actor_of(who), purpose=purpose)
    media_type = _MEDIA_TYPES.get(record.recording.container, "application/octet-stream")
    with vault.open_recording(
        call_id, action="recording.listen", actor=actor_of(who), purpose=purpose
    ) as reader:
        size = reader.size
        try:
            wanted = parse_range(request.headers.get("range"), size)
        except RangeNotSatisfiable as exc:
            return Response(status_code=416, headers={"Content-Range": str(exc)})
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, no-store"}
        if wanted is None:
            body = reader.read_range(0, size)
            return Response(body, media_type=media_type, headers=headers)
        body = reader.read_range(wanted.start, wanted.length)
        headers["Content-Range"] = wanted.content_range(size)
        return Response(body, status_code=206, media_type=media_type, headers=headers)


@router.get(
    "/{call_id}/original",
    response_class=Response,
    responses={200: {"content": {"audio/wav": {}}, "description": "The original, as WAV"}},
)
def get_original(
    call_id: str,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    reason: Annotated[str, Query(min_length=1, max_length=500)],
) -> Response:
    """The kept unredacted original as 16-bit PCM WAV: the compliance role only, with
    the reason it is opened (audited, and so is a refusal). 404 when none was kept
    (never for card data)."""
    vault = vault_of(request)
    require_call(vault, who, CALLS_ORIGINAL, call_id)
    body = original_wav(vault, call_id, role=who.role, reason=reason, actor=actor_of(who))
    return Response(body, media_type="audio/wav", headers={"Cache-Control": "private, no-store"})


@router.post("", status_code=201)
async def upload_call(
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    file: Annotated[UploadFile, File(description="The recording (WAV, FLAC, MP3, Opus, ...)")],
    caller: Annotated[str | None, Form()] = None,
    callee: Annotated[str | None, Form()] = None,
    direction: Annotated[str | None, Form()] = None,
    agent: Annotated[str | None, Form()] = None,
    started_at: Annotated[str | None, Form()] = None,
    language: Annotated[str | None, Form()] = None,
    consent: Annotated[str | None, Form()] = None,
    channels: Annotated[
        str | None,
        Form(
            description="The role of each channel of a stereo file, in order: "
            "agent,customer or customer,agent (needs direction inbound or outbound); "
            "left out, channel 0 is the caller and channel 1 the callee."
        ),
    ] = None,
) -> dict[str, Any]:
    """Upload a recording (multipart; any transfer encoding, chunked included). It goes
    through the policy gate and is queued for processing. A rep uploads their own calls
    (the agent is the rep), a manager their team's."""
    vault = vault_of(request)
    options = FileImportOptions(
        caller=caller,
        callee=callee,
        direction=direction,
        agent=upload_agent(vault, who, agent),
        started_at=started_at,
        language=language,
        channels=channels,
    )
    data = await read_upload(vault, file)
    stored = await store_upload(vault, who, data, file.filename or "upload", options, consent)
    return stored.to_json()


def upload_agent(vault: Vault, who: Principal, agent: str | None) -> str | None:
    """The agent of a call `who` uploads: the one named, else a rep or manager
    themself. NotAuthorized when that agent's calls are out of `who`'s reach."""
    agent = agent or (who.username if who.role in ("rep", "manager") else None)
    team = vault.team_of(agent) if agent else None
    if not can(who, CALLS_UPLOAD, CallScope("", agent, team)):
        require(who, CALLS_UPLOAD)  # 403 for a role that never uploads
        raise NotAuthorized(f"{who.role} {who.username} may not upload calls of agent {agent}")
    return agent


async def read_upload(vault: Vault, file: StarletteUpload) -> bytes:
    """The uploaded recording, refused when longer than CALLVAULT_MAX_INPUT_BYTES."""
    limit = vault.config.max_input_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"the upload is larger than {limit} bytes (CALLVAULT_MAX_INPUT_BYTES)")
    return data


async def store_upload(
    vault: Vault,
    who: Principal,
    data: bytes,
    name: str,
    options: FileImportOptions,
    consent: str | None,
) -> IngestedCall:
    """Check, gate, store and queue an uploaded recording, audited as `who`."""

    def store() -> IngestedCall:
        # Decoding, encrypting and the database: off the event loop, so that readers
        # are served while recordings arrive.
        captured = import_bytes(data, name, options)
        (stored,) = ingest_captured(
            vault.config, [captured], consent=consent, vault=vault, actor=actor_of(who)
        )
        return stored

    return await run_in_threadpool(store)


class InsightCorrection(BaseModel):
    section: str = Field(max_length=32)
    index: int = Field(ge=0)
    field: str = Field(max_length=32)
    value: str = Field(max_length=500)
    reason: str = Field(min_length=1, max_length=256)


@router.get("/{call_id}/corrections")
def correction_history(
    call_id: str,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    purpose: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    """Every correction of the call's insights, oldest first: old and new value, who,
    when and why (audited)."""
    vault = vault_of(request)
    require_call(vault, who, CALLS_INSIGHTS, call_id)
    records = vault.corrections(call_id, actor=actor_of(who), purpose=purpose)
    return {"corrections": [r.to_json() for r in records if r.target == "insight"]}


@router.post("/{call_id}/corrections", status_code=201)
def correct(
    call_id: str,
    body: InsightCorrection,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
) -> dict[str, Any]:
    """Correct one insight (it survives re-processing); see docs/insights.md."""
    vault = vault_of(request)
    require_call(vault, who, CALLS_CORRECT, call_id)
    record = correct_insight(
        vault,
        call_id,
        body.section,
        body.index,
        body.field,
        body.value,
        reason=body.reason,
        actor=actor_of(who),
    )
    return record.to_json()


class ActionIn(BaseModel):
    utterance: int = Field(ge=0)
    owner: str = Field(min_length=1, max_length=128)
    text: str = Field(min_length=1, max_length=500)
    due: str | None = Field(default=None, max_length=40)
    reason: str = Field(min_length=1, max_length=256)


@router.post("/{call_id}/actions", status_code=201)
def add_action_item(
    call_id: str,
    body: ActionIn,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
) -> dict[str, Any]:
    """Add an action item the insight stages missed."""
    vault = vault_of(request)
    require_call(vault, who, CALLS_CORRECT, call_id)
    record = add_action(
        vault,
        call_id,
        utterance=body.utterance,
        owner=body.owner,
        text=body.text,
        due=body.due,
        reason=body.reason,
        actor=actor_of(who),
    )
    return record.to_json()


__all__ = ["actor_of", "read_upload", "readable_call", "router", "store_upload", "upload_agent"]
