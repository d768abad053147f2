"""The "Ask your calls" page (issue 22): a question, the answer and its quotes, each
linking to its moment in the call (``/calls/{id}#t=START``, as the search page links)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from callvault.api import context_of
from callvault.api.routers.calls import actor_of
from callvault.services import ask_calls, reach_agents
from callvault.services.access import SEARCH, require
from callvault.web._core import PageRoute, render, signed_in

__all__ = ["router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)

_MAX_QUESTION = 1000


@router.get("/ask")
def ask_page(request: Request, q: str | None = None) -> Response:
    signed = signed_in(request)
    who = signed.who
    require(who, SEARCH)
    question = (q or "").strip()[:_MAX_QUESTION]
    answer: dict[str, Any] | None = None
    if question:
        ctx = context_of(request)
        found = ask_calls(ctx, question, agents=reach_agents(ctx, who), actor=actor_of(who))
        answer = found.to_json()
    return render(
        request,
        "ask.html",
        {"q": question, "answer": answer},
        signed=signed,
        title="Ask your calls",
    )
