"""Scorecards of calls: read one (as insights are read), override a score (as insights
are corrected). Access is checked per call; a call out of reach answers 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from callvault.api._auth import context_of, principal
from callvault.api.routers.calls import actor_of
from callvault.api.scorecard_schemas import ScorecardOut, ScoreOverrideIn, ScoreOverrideOut
from callvault.services import require_call
from callvault.services.access import CALLS_CORRECT, CALLS_INSIGHTS, Principal
from callvault.services.scorecards import override_score, read_scorecard

__all__ = ["router"]

router = APIRouter(prefix="/calls", tags=["scorecards"])


@router.get("/{call_id}/scorecard", response_model=ScorecardOut)
def scorecard(
    call_id: str,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    purpose: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    """The call's scorecard: each question's score (null: not enough evidence), its
    confidence and the utterances behind it, reviewers' overrides applied, and their
    history (audited). 404 when the call was not scored."""
    ctx = context_of(request)
    require_call(ctx, who, CALLS_INSIGHTS, call_id)
    return read_scorecard(ctx, call_id, actor=actor_of(who), purpose=purpose).to_json()


@router.post("/{call_id}/scorecard/overrides", status_code=201, response_model=ScoreOverrideOut)
def override(
    call_id: str,
    body: ScoreOverrideIn,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
) -> dict[str, Any]:
    """Override one question's score; kept with its history and applied again after a
    re-score (who may correct insights may do it)."""
    ctx = context_of(request)
    require_call(ctx, who, CALLS_CORRECT, call_id)
    done = override_score(
        ctx, call_id, body.question, body.score, reason=body.reason, actor=actor_of(who)
    )
    return done.to_json()
