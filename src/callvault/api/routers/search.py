"""Transcript search, narrowed to the calls the caller may read (`access.call_filter`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from callvault.api._auth import context_of, principal
from callvault.api.routers.calls import actor_of
from callvault.api.schemas import SearchPage
from callvault.search import MAX_LIMIT
from callvault.services import reach_agents, search_calls, semantic_search_calls
from callvault.services.access import SEARCH, Principal, require

router = APIRouter(prefix="/search", tags=["search"])


# Exclude unset: `methods` is written for semantic hits only, and every other key is
# always given, so the bodies stay as they were.
@router.get("", response_model=SearchPage, response_model_exclude_unset=True)
def search(
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    q: Annotated[str, Query(min_length=1, max_length=500)],
    semantic: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
    agent: Annotated[str | None, Query(max_length=64)] = None,
    role: Annotated[str | None, Query(max_length=32)] = None,
    language: Annotated[str | None, Query(max_length=16)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    purpose: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    """Utterances matching `q` (words, "phrases", prefix*), best first; matches in
    `snippet` are marked « ». With `semantic`, full-text and semantic hits fused (no
    `offset`). A rep searches their own calls, a manager their team's. Audited without
    the query's text."""
    require(who, SEARCH)
    ctx = context_of(request)
    agents = reach_agents(ctx, who)
    filters: dict[str, Any] = {
        "purpose": purpose,
        "speaker_role": role,
        "agent": agent,
        "since": since,
        "until": until,
        "language": language,
        "limit": limit,
        "agents": agents,
        "actor": actor_of(who),
    }
    if semantic:
        hits = semantic_search_calls(ctx, q, **filters)
        return {
            "hits": [{**_hit(h), "score": h.score, "methods": list(h.methods)} for h in hits],
            "ranked": True,
            "matches": None,
            "limit": limit,
            "offset": 0,
        }
    page = search_calls(ctx, q, offset=offset, **filters)
    return {
        "hits": [{**_hit(h), "score": h.score} for h in page.hits],
        "ranked": page.ranked,
        "matches": page.matches,
        "limit": limit,
        "offset": offset,
    }


def _hit(hit: Any) -> dict[str, Any]:
    return {
        "call_id": hit.call_id,
        "utterance": hit.utterance,
        "speaker": hit.speaker,
        "role": hit.role,
        "start": hit.start,
        "end": hit.end,
        "snippet": hit.snippet,
    }


__all__ = ["router"]
