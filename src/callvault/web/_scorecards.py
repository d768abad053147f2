"""The scorecard panel of the call page, and its override form (issue 22)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from callvault.api import context_of
from callvault.api.routers.calls import actor_of
from callvault.errors import CallvaultError, InputError
from callvault.services import Context, call_scope
from callvault.services.access import CALLS_CORRECT, CALLS_INSIGHTS, CallScope, Principal, can
from callvault.services.access import require as require_access
from callvault.services.scorecards import override_score, read_scorecard
from callvault.web._core import PageRoute, checked_form, form_text, signed_in

__all__ = ["router", "scorecard_panel"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def scorecard_panel(
    ctx: Context, who: Principal, call_id: str, scope: CallScope
) -> dict[str, Any] | None:
    """The call's scorecard for `_scorecard.html` (with the words it cites), or None when
    the role may not read insights or the call has no scorecard (not scored, restricted)."""
    if not can(who, CALLS_INSIGHTS, scope):
        return None
    try:
        card = read_scorecard(ctx, call_id, actor=actor_of(who))
    except CallvaultError:
        return None
    return {**card.to_json(), "lines": {e.utterance: e.to_json() for e in card.evidence.values()}}


@router.post("/calls/{call_id}/scorecard/overrides")
async def override(request: Request, call_id: str) -> Response:
    signed = signed_in(request)
    form = await checked_form(request, signed)
    ctx = context_of(request)
    require_access(signed.who, CALLS_CORRECT, call_scope(ctx, call_id))
    try:
        score = int(form_text(form, "score", 4))
    except ValueError:
        raise InputError("the override gives no score (a whole number)") from None
    reason = form_text(form, "reason", 256)
    if not reason:
        raise InputError("give a reason for the override")
    override_score(
        ctx,
        call_id,
        form_text(form, "question", 63),
        score,
        reason=reason,
        actor=actor_of(signed.who),
    )
    return RedirectResponse(f"/calls/{call_id}#scorecard", status_code=303)
