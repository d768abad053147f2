"""Calls: list, read (metadata, transcript, insights), stream audio with Range, upload,
correct. Access is checked per call; a call out of reach answers 404."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from callvault.api._auth import check_form_csrf, context_of, header_principal, principal
from callvault.api._ranges import RangeNotSatisfiable, parse_range
from callvault.api._upload import UPLOAD_BODY_SCHEMA, receive_upload
from callvault.api.schemas import (
    ActionIn,
    CallDocument,
    CallPage,
    CorrectionList,
    CorrectionOut,
    IngestedCallOut,
    InsightCorrection,
)
from callvault.capture import FileImportOptions
from callvault.errors import InputError, IntegrityError
from callvault.services import (
    AnonymizedWav,
    CallFilter,
    Context,
    EncryptedSpool,
    IngestedCall,
    call_document,
    call_record,
    call_scope,
    callinfo,
    ingest_upload,
    insight_history,
    listen_recording,
    reach_agents,
    require_call,
    upload_agent,
)
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
from callvault.services.calls import open_original_wav
from callvault.services.insight_corrections import add_action, correct_insight

log = logging.getLogger("callvault.api")

router = APIRouter(prefix="/calls", tags=["calls"])

_MEDIA_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg", "ogg": "audio/ogg"}


def actor_of(who: Principal) -> str:
    return f"user:{who.username}"


@router.get("", response_model=CallPage)
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
    ctx = context_of(request)
    agents = reach_agents(ctx, who, agent)
    where = CallFilter.of(
        agents=agents,
        direction=direction,
        language=language,
        consent_state=consent_state,
        since=since,
        until=until,
    )
    calls = callinfo.list_calls(
        ctx, where, limit=limit, offset=offset, actor=actor_of(who), purpose=purpose
    )
    return {
        "calls": [c.to_json() for c in calls],
        "total": callinfo.count_calls(ctx, where),
        "limit": limit,
        "offset": offset,
    }


@router.get("/{call_id}", response_model=CallDocument)
def get_call(
    call_id: str,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    purpose: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    """The call's record; with the transcript, insights and redactions where the role
    may read them (an auditor sees metadata only). Every read is audited."""
    return readable_call(context_of(request), who, call_id, purpose)[0]


def readable_call(
    ctx: Context, who: Principal, call_id: str, purpose: str | None
) -> tuple[dict[str, Any], CallScope]:
    """The call's document with the parts `who` may read (transcript, insights), once
    they may read the call at all; and its scope, for further checks. The API's call and
    the web's call page both show this."""
    scope = call_scope(ctx, call_id)
    require(who, CALLS_READ, scope)
    document = call_document(
        ctx,
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
    ctx = context_of(request)
    require_call(ctx, who, CALLS_AUDIO, call_id)
    record = call_record(ctx, call_id, actor=actor_of(who), purpose=purpose)
    media_type = _MEDIA_TYPES.get(record.recording.container, "application/octet-stream")
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, no-store"}
    stack = ExitStack()
    try:
        reader = stack.enter_context(
            listen_recording(ctx, call_id, actor=actor_of(who), purpose=purpose, role=who.role)
        )
        if isinstance(reader, AnonymizedWav):  # CALLVAULT_VOICE_ANONYMIZE (issue 22)
            media_type = _MEDIA_TYPES.get(reader.container, media_type)
        size = reader.size
        wanted = parse_range(request.headers.get("range"), size)
    except RangeNotSatisfiable as exc:
        stack.close()
        return Response(status_code=416, headers={"Content-Range": str(exc)})
    except BaseException:
        stack.close()
        raise
    status, start, length = 200, 0, size
    if wanted is not None:
        status, start, length = 206, wanted.start, wanted.length
        headers["Content-Range"] = wanted.content_range(size)
    headers["Content-Length"] = str(length)
    return streamed(reader.iter_range(start, length), stack, status, media_type, headers)


def streamed(
    chunks: Iterator[bytes],
    stack: ExitStack,
    status: int,
    media_type: str,
    headers: dict[str, str],
) -> Response:
    """A response that sends `chunks` as they are decrypted, one at a time, whatever the
    size (issue 17: three listeners of a 600 MB recording each held it whole). The first
    chunk is decrypted before the status line goes out, so a damaged start of the range
    is answered with the integrity error; a later damaged chunk ends the transfer before
    any of its bytes are sent. `stack` (the open blob) is closed when the body ends, or
    when the client goes away first."""
    try:
        first = next(chunks, b"")
    except BaseException:
        stack.close()
        raise

    def body() -> Iterator[bytes]:
        with stack:
            if first:
                yield first
            try:
                yield from chunks
            except IntegrityError as exc:
                # The status line is gone: all that is left is to end the transfer short.
                log.error("stopped sending audio: %s", exc)
                raise

    return StreamingResponse(
        body(),
        status_code=status,
        media_type=media_type,
        headers=headers,
        background=BackgroundTask(stack.close),
    )


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
    ctx = context_of(request)
    require_call(ctx, who, CALLS_ORIGINAL, call_id)
    stack = ExitStack()
    chunks = stack.enter_context(
        open_original_wav(ctx, call_id, role=who.role, reason=reason, actor=actor_of(who))
    )
    return streamed(chunks, stack, 200, "audio/wav", {"Cache-Control": "private, no-store"})


@router.post(
    "",
    status_code=201,
    response_model=IngestedCallOut,
    openapi_extra={"requestBody": UPLOAD_BODY_SCHEMA},
)
async def upload_call(
    request: Request, who: Annotated[Principal, Depends(header_principal)]
) -> dict[str, Any]:
    """Upload a recording (multipart, the file after the other fields; any transfer
    encoding, chunked included). It goes through the policy gate and is queued for
    processing. A rep uploads their own calls (the agent is the rep), a manager their
    team's.

    Who may upload is decided on the headers, before any byte of the body is read; a
    body over CALLVAULT_MAX_UPLOAD_BYTES is refused with 413 (at once when its
    Content-Length says so); the recording is received into an encrypted spool, never
    into memory or the temporary directory (issue 17)."""
    ctx = context_of(request)
    require(who, CALLS_UPLOAD)  # 403 for a role that never uploads, before the body

    def before_file(fields: dict[str, str]) -> None:
        check_form_csrf(request, fields)
        upload_agent(ctx, who, fields.get("agent") or None)

    upload = await receive_upload(request, ctx, before_file=before_file)
    try:
        if upload.spool is None:
            raise InputError("the upload has no file part 'file'; send the recording in it")
        fields = upload.fields  # its CSRF token was checked before the file (before_file)
        options = FileImportOptions(
            caller=fields.get("caller") or None,
            callee=fields.get("callee") or None,
            direction=fields.get("direction") or None,
            agent=upload_agent(ctx, who, fields.get("agent") or None),
            started_at=fields.get("started_at") or None,
            language=fields.get("language") or None,
            channels=fields.get("channels") or None,
        )
        stored = await store_upload(
            ctx, who, upload.spool, upload.filename, options, fields.get("consent") or None
        )
    finally:
        upload.close()
    return stored.to_json()


async def store_upload(
    ctx: Context,
    who: Principal,
    spool: EncryptedSpool,
    name: str,
    options: FileImportOptions,
    consent: str | None,
) -> IngestedCall:
    """Check, gate, store and queue an uploaded recording, audited as `who`. The audio
    is read from its encrypted spool chunk by chunk (probing, then encrypting it into
    the vault), never whole."""
    # Decoding, encrypting and the database: off the event loop, so that readers are
    # served while recordings arrive.
    return await run_in_threadpool(
        ingest_upload, ctx, spool, name, options, consent, actor=actor_of(who)
    )


@router.get("/{call_id}/corrections", response_model=CorrectionList)
def correction_history(
    call_id: str,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    purpose: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    """Every correction of the call's insights, oldest first: old and new value, who,
    when and why (audited)."""
    ctx = context_of(request)
    require_call(ctx, who, CALLS_INSIGHTS, call_id)
    records = insight_history(ctx, call_id, actor=actor_of(who), purpose=purpose)
    return {"corrections": [r.to_json() for r in records]}


@router.post("/{call_id}/corrections", status_code=201, response_model=CorrectionOut)
def correct(
    call_id: str,
    body: InsightCorrection,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
) -> dict[str, Any]:
    """Correct one insight (it survives re-processing); see docs/insights.md."""
    ctx = context_of(request)
    require_call(ctx, who, CALLS_CORRECT, call_id)
    record = correct_insight(
        ctx,
        call_id,
        body.section,
        body.index,
        body.field,
        body.value,
        reason=body.reason,
        actor=actor_of(who),
    )
    return record.to_json()


@router.post("/{call_id}/actions", status_code=201, response_model=CorrectionOut)
def add_action_item(
    call_id: str,
    body: ActionIn,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
) -> dict[str, Any]:
    """Add an action item the insight stages missed."""
    ctx = context_of(request)
    require_call(ctx, who, CALLS_CORRECT, call_id)
    record = add_action(
        ctx,
        call_id,
        utterance=body.utterance,
        owner=body.owner,
        text=body.text,
        due=body.due,
        reason=body.reason,
        actor=actor_of(who),
    )
    return record.to_json()


__all__ = ["actor_of", "readable_call", "router", "store_upload"]
