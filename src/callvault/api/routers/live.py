"""The live board (issue 20): calls in progress with their words and alerts, as JSON and
as Server-Sent Events, and acknowledging an alert.

Access is `services.access.LIVE_READ` (a rep their own calls, a manager their team's,
compliance and admin all; out of reach looks absent) and `LIVE_ACK` for acknowledging.
The stream (`GET /live/stream`) sends every event of the calls the caller reaches,
numbered board-wide: each SSE message's `id` is the event's `seq`, so a browser's
EventSource that reconnects sends `Last-Event-ID` and continues where it stopped, with
nothing lost and nothing twice. It is audited once per connection (`live.watch`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from callvault.api._auth import context_of, principal
from callvault.api.live_schemas import LiveAlertOut, LiveCallList, LiveCallOut, LiveEventPage
from callvault.errors import InputError, NotFound
from callvault.services.access import Principal
from callvault.services.live import LiveBoard, LiveEventRecord

router = APIRouter(prefix="/live", tags=["live"])

# How often the stream reads the board, and how long it may stay silent before a
# comment line keeps proxies from closing it.
POLL_S = 0.25
KEEPALIVE_S = 15.0
# A client that stays connected this long is asked to reconnect (EventSource does, with
# Last-Event-ID): its session is checked again then.
STREAM_MAX_S = 600.0


def _board(request: Request) -> LiveBoard:
    return LiveBoard(context_of(request))


@router.get("/calls", response_model=LiveCallList)
def live_calls(request: Request, who: Annotated[Principal, Depends(principal)]) -> dict[str, Any]:
    """The calls going on that the caller may see, oldest first, with their alerts."""
    return {"calls": [view.to_json() for view in _board(request).active_calls(who)]}


@router.get("/calls/{live_id}", response_model=LiveCallOut)
def live_call(
    live_id: str, request: Request, who: Annotated[Principal, Depends(principal)]
) -> dict[str, Any]:
    """One call on the board (going on or ended, until it is pruned) with its alerts."""
    return _board(request).call(who, live_id).to_json()


@router.get("/calls/{live_id}/events", response_model=LiveEventPage)
def live_call_events(
    live_id: str,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> dict[str, Any]:
    """The call's events numbered above `after`, oldest first (audited)."""
    found = _board(request).events_since(who, live_id, after, limit=limit)
    return {"events": [e.to_json() for e in found], "after": after}


@router.post("/alerts/{alert_id}/ack", response_model=LiveAlertOut)
def acknowledge_live_alert(
    alert_id: str, request: Request, who: Annotated[Principal, Depends(principal)]
) -> dict[str, Any]:
    """Acknowledge an alert (audited); once acknowledged, again changes nothing."""
    return _board(request).acknowledge(who, alert_id).to_json()


def _message(event: LiveEventRecord, call: dict[str, Any] | None) -> str:
    data = event.to_json()
    if call is not None:
        data["call"] = call
    return f"id: {event.seq}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _cursor(last_event_id: str | None, after: int | None) -> int:
    raw = last_event_id if last_event_id not in (None, "") else after
    if raw is None:
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise InputError("Last-Event-ID must be the number of a live event") from None
    if value < 0:
        raise InputError("Last-Event-ID must be the number of a live event")
    return value


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Event stream"}},
)
async def live_stream(
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    after: Annotated[int | None, Query(ge=0)] = None,
    max_s: Annotated[float, Query(gt=0, le=STREAM_MAX_S)] = STREAM_MAX_S,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> StreamingResponse:
    """Server-Sent Events: every event of the calls the caller may see, numbered above
    `Last-Event-ID` (or `after`; neither: from the start of what the board keeps), each
    message's `id` its number and its `data` the event's JSON (an "open" event with the
    call's record under `call`). The stream ends after `max_s` seconds (at most 600):
    an EventSource reconnects by itself, with `Last-Event-ID`. Audited once per
    connection."""
    board = _board(request)
    cursor = _cursor(last_event_id, after)
    await run_in_threadpool(board.watch, who)

    async def stream() -> AsyncIterator[str]:
        nonlocal cursor
        began = last_sent = time.monotonic()
        yield "retry: 2000\n\n"
        while time.monotonic() - began < max_s:
            found = await run_in_threadpool(board.updates, who, cursor)
            for event in found:
                call = None
                if event.kind == "open":
                    call = await run_in_threadpool(_call_json, board, who, event.live_id)
                yield _message(event, call)
                cursor = event.seq
                last_sent = time.monotonic()
            if found:
                continue  # more may be waiting beyond the read limit
            if time.monotonic() - last_sent > KEEPALIVE_S:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()
            await asyncio.sleep(POLL_S)
            if await request.is_disconnected():
                return

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _call_json(board: LiveBoard, who: Principal, live_id: str) -> dict[str, Any] | None:
    try:
        return board.call(who, live_id).to_json()
    except NotFound:
        return None  # pruned in between


__all__ = ["router"]
