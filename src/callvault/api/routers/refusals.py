"""Spoken refusals to be recorded found by processing (issue 20): list, show, apply,
reverse. Compliance only (`refusals.read`, `refusals.write`); each endpoint calls one
use case of `services.refusals`, which checks the same action again."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from callvault.api._auth import context_of, principal
from callvault.api.schemas import RefusalList, RefusalOut, RefusalReviewIn
from callvault.services import apply_refusal, list_refusals, reverse_refusal, show_refusal
from callvault.services.access import REFUSALS_READ, REFUSALS_WRITE, Principal, require

__all__ = ["router"]

router = APIRouter(prefix="/refusals", tags=["refusals"])

Who = Annotated[Principal, Depends(principal)]


@router.get("", response_model=RefusalList)
def list_detections(
    request: Request,
    who: Who,
    status: Annotated[str | None, Query(max_length=16)] = None,
    call_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Detections, newest first, with their words (the read is audited)."""
    require(who, REFUSALS_READ)
    views = list_refusals(context_of(request).acting_as(who), status=status, call_id=call_id)
    return {"refusals": [v.to_json() for v in views]}


@router.get("/{detection_id}", response_model=RefusalOut)
def show_detection(detection_id: str, request: Request, who: Who) -> dict[str, Any]:
    """One detection with its words (audited)."""
    require(who, REFUSALS_READ)
    return show_refusal(context_of(request).acting_as(who), detection_id).to_json()


@router.post("/{detection_id}/reverse", response_model=RefusalOut)
def reverse_detection(
    detection_id: str, body: RefusalReviewIn, request: Request, who: Who
) -> dict[str, Any]:
    """Reverse a false detection: the recording is restored from its quarantine and the
    call queued for processing again (a flagged one is dismissed). 400 once the
    quarantine has ended."""
    require(who, REFUSALS_WRITE)
    ctx = context_of(request).acting_as(who)
    return reverse_refusal(ctx, detection_id, reason=body.reason).to_json()


@router.post("/{detection_id}/apply", response_model=RefusalOut)
def apply_detection(
    detection_id: str, body: RefusalReviewIn, request: Request, who: Who
) -> dict[str, Any]:
    """Honour a flagged detection: the recording is cut (or erased) at the refusal."""
    require(who, REFUSALS_WRITE)
    ctx = context_of(request).acting_as(who)
    return apply_refusal(ctx, detection_id, reason=body.reason).to_json()
