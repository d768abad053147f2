"""Outcomes and outcome prediction (issue 22). `POST /outcomes` is the CRM webhook path:
a CRM posts a deal's or a contact's outcome with a token that needs only the scope
`outcomes:write` (docs/outcomes.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from callvault.api._auth import context_of, principal
from callvault.api.outcome_schemas import DealWarningList, OutcomeIn, OutcomeOut, PredictionOut
from callvault.services import Context
from callvault.services.access import CALLS_INSIGHTS, OUTCOMES_WRITE, PREDICT, Principal, require
from callvault.services.outcomes import record_outcome
from callvault.services.predict import deal_warnings, predict_call
from callvault.services.reach import require_call

router = APIRouter(tags=["outcomes"])

Who = Annotated[Principal, Depends(principal)]


def _context(request: Request, who: Principal) -> Context:
    return context_of(request).acting_as(who)


@router.post("/outcomes", status_code=201, response_model=OutcomeOut)
def post_outcome(body: OutcomeIn, request: Request, who: Who) -> dict[str, Any]:
    """Record an outcome of a call (within the caller's reach), a contact or a deal."""
    require(who, OUTCOMES_WRITE)
    ctx = _context(request, who)
    if body.call_id is not None:
        require_call(ctx, who, OUTCOMES_WRITE, body.call_id)
    record = record_outcome(
        ctx, outcome=body.outcome, call_id=body.call_id, contact_id=body.contact_id,
        deal=body.deal, note=body.note, source=body.source,
    )  # fmt: skip
    return record.to_json()


@router.get("/calls/{call_id}/prediction", response_model=PredictionOut)
async def call_prediction(
    call_id: str,
    request: Request,
    who: Who,
    purpose: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    """P(won/resolved) of a call, the factors that moved it and a confidence; 404
    until a model is trained (`callvault predict train`)."""
    require(who, PREDICT)
    ctx = _context(request, who)
    await run_in_threadpool(require_call, ctx, who, CALLS_INSIGHTS, call_id)
    found = await run_in_threadpool(predict_call, ctx, call_id, purpose=purpose)
    return found.to_json()


@router.get("/predict/warnings", response_model=DealWarningList)
async def warnings(
    request: Request,
    who: Who,
    threshold: Annotated[float | None, Query(ge=0, le=1)] = None,
) -> dict[str, Any]:
    """Open deals and contacts whose recent calls (those the caller reaches) look like
    lost ones, lowest probability first."""
    require(who, PREDICT)
    found = await run_in_threadpool(deal_warnings, _context(request, who), threshold=threshold)
    return {"warnings": [w.to_json() for w in found]}
