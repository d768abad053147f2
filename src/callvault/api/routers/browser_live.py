"""Live monitoring of the in-browser recorder (issue 20): start a session, send its
audio chunk by chunk, stop it (`services.browser_monitor`).

Plain HTTP POSTs, with the web app's conventions: the recording page sends its session
cookie and the CSRF token in `X-CSRF-Token` (an API token needs none). An audio chunk is
the raw body, `application/octet-stream`: int16 little-endian mono samples at 16 kHz, at
most `MAX_CHUNK_BYTES` (about a second), numbered by `seq` from 0. Each answer says
whether the recorder must stop (`stop_at`, a spoken refusal) and the card data spans.

A session lives in the process that started it: behind a load balancer, the requests of
one recording must stay on one process (sticky sessions); elsewhere a chunk is answered
404, saying so.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from callvault.api._auth import context_of, principal
from callvault.api.live_schemas import BrowserLiveOut
from callvault.errors import InputError, UnsupportedMedia
from callvault.services import browser_monitor
from callvault.services.access import Principal

router = APIRouter(prefix="/live/browser", tags=["live"])

_AUDIO = "application/octet-stream"
_AUDIO_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "int16 little-endian mono samples at 16 kHz, at most 32768 bytes",
        "content": {_AUDIO: {"schema": {"type": "string", "format": "binary"}}},
    }
}


async def _chunk(request: Request) -> bytes:
    """The body, refused unless it is audio of at most `MAX_CHUNK_BYTES` (checked on the
    Content-Length first, then while reading)."""
    limit = browser_monitor.MAX_CHUNK_BYTES
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != _AUDIO:
        raise UnsupportedMedia(
            f"send the audio chunk as {_AUDIO} (int16 little-endian mono samples at 16 kHz)"
        )
    too_long = InputError(f"an audio chunk holds at most {limit} bytes; send shorter chunks")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_long
    body = bytearray()
    async for part in request.stream():
        body.extend(part)
        if len(body) > limit:
            raise too_long
    return bytes(body)


@router.post("", response_model=BrowserLiveOut, status_code=201)
def start_browser_live(
    request: Request, who: Annotated[Principal, Depends(principal)]
) -> dict[str, Any]:
    """Open a live session for a recording the caller makes in the browser: the call
    shows on the live board (source "browser", the caller as agent). 502 when live
    transcription is not available here, 503 when this process monitors as many as it
    may; the recording goes on without it either way."""
    return browser_monitor.start(context_of(request), who).to_json()


@router.post("/{session_id}/audio", response_model=BrowserLiveOut, openapi_extra=_AUDIO_BODY)
async def browser_live_audio(
    session_id: str,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    seq: Annotated[int, Query(ge=0, le=1_000_000)],
) -> dict[str, Any]:
    """Chunk `seq` of the session's audio (a repeat is ignored, a gap filled with
    silence); the answer says whether to stop recording (`stop_at`). Only the user
    who started the session may send it audio."""
    pcm = await _chunk(request)
    ctx = context_of(request)
    state = await run_in_threadpool(browser_monitor.feed, ctx, session_id, who, seq, pcm)
    return state.to_json()


@router.post("/{session_id}/stop", response_model=BrowserLiveOut)
def stop_browser_live(
    session_id: str, request: Request, who: Annotated[Principal, Depends(principal)]
) -> dict[str, Any]:
    """End the session: its last words are decoded, then the call leaves the live board."""
    return browser_monitor.stop(context_of(request), session_id, who).to_json()


__all__ = ["router"]
