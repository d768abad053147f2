"""Jobs: the queue (admin) and one job's progress, as JSON or as Server-Sent Events.

A rep or manager may follow the job of a call they may read (its payload's `call_id`);
a job of a call out of reach answers 404, as the call would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from callvault.api._auth import context_of, principal
from callvault.api.schemas import JobOut, JobPage
from callvault.services import Context, JobRecord, JobStatus, jobcontrol, require_call
from callvault.services.access import CALLS_READ, JOBS_READ, Principal, can, require

router = APIRouter(prefix="/jobs", tags=["jobs"])

# How often the event stream reads the job's record.
POLL_S = 0.5


def _readable_job(ctx: Context, who: Principal, job_id: str) -> JobRecord:
    """The job, when `who` may see it: every job with jobs.read, else the job of a call
    they may read (NotFound for one out of reach, NotAuthorized for a job of no call)."""
    record = jobcontrol.get_job(ctx, job_id)
    if can(who, JOBS_READ):
        return record
    call_id = record.payload.get("call_id")
    if not isinstance(call_id, str):
        require(who, JOBS_READ)
    else:
        require_call(ctx, who, CALLS_READ, call_id)
    return record


@router.get("", response_model=JobPage)
def list_jobs(
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Jobs, newest first (admin)."""
    require(who, JOBS_READ)
    found = jobcontrol.list_jobs(context_of(request), status=status, limit=limit)
    return {"jobs": [j.to_json() for j in found], "limit": limit}


@router.get("/{job_id}", response_model=JobOut)
def get_job(
    job_id: str, request: Request, who: Annotated[Principal, Depends(principal)]
) -> dict[str, Any]:
    """One job's record: status, progress, attempts, last error."""
    return _readable_job(context_of(request), who, job_id).to_json()


def _event(name: str, record: JobRecord) -> str:
    data = {
        "status": record.status.value,
        "progress": record.progress,
        "message": record.progress_message,
    }
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Event stream"}},
)
async def job_events(
    job_id: str, request: Request, who: Annotated[Principal, Depends(principal)]
) -> StreamingResponse:
    """Server-Sent Events: `progress` ({status, progress, message}) whenever the job's
    record changes, read every 0.5 s, then one `done` with the final record."""
    ctx = context_of(request)
    first = await run_in_threadpool(_readable_job, ctx, who, job_id)

    async def stream() -> AsyncIterator[str]:
        record, last = first, None
        while True:
            seen = (record.status, record.progress, record.progress_message)
            if seen != last:
                yield _event("progress", record)
                last = seen
            if record.done:
                yield _event("done", record)
                return
            await asyncio.sleep(POLL_S)
            if await request.is_disconnected():
                return
            record = await run_in_threadpool(jobcontrol.get_job, ctx, job_id)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


__all__ = ["router"]
