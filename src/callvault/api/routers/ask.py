"""Ask your calls (issue 22): a question answered by quoting the utterances of the calls
the caller may read (`access.call_filter`), worded by an LLM when one is configured."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from callvault.api._auth import context_of, principal
from callvault.api.routers.calls import actor_of
from callvault.services import ask_calls, reach_agents
from callvault.services.access import SEARCH, Principal, require
from callvault.services.ask import MAX_QUOTES

__all__ = ["AskIn", "AskOut", "QuoteOut", "router"]

router = APIRouter(prefix="/ask", tags=["search"])


class AskIn(BaseModel):
    """A question and the filters of a search (`role`: only what this party said)."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=1000)
    agent: str | None = Field(default=None, max_length=64)
    role: str | None = Field(default=None, max_length=32)
    language: str | None = Field(default=None, max_length=16)
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(default=3, ge=1, le=MAX_QUOTES)
    purpose: str | None = Field(default=None, max_length=256)


class QuoteOut(BaseModel):
    """A quoted utterance: the call, its index in the transcript, the speaker, where it
    is in the call (seconds) and its (redacted) text; cited as [n] by its position."""

    call_id: str
    utterance: int
    speaker: str
    role: str | None
    start: float
    end: float
    text: str
    score: float


class AskOut(BaseModel):
    """The answer: its text (quotes cited [1]..[n]), how it was made ("extractive" or
    "llm"), a confidence (0..1), a note (why the LLM was not used, say) and the quotes.
    No quote: nothing the caller may read answers the question."""

    answer: str
    method: Literal["extractive", "llm"]
    confidence: float
    note: str | None
    quotes: list[QuoteOut]


@router.post("", response_model=AskOut)
def ask(
    request: Request, body: AskIn, who: Annotated[Principal, Depends(principal)]
) -> dict[str, Any]:
    """Answer `question` from the calls the caller may read (a rep their own, a manager
    their team's), quoting the utterances it rests on. Audited without the question."""
    require(who, SEARCH)
    ctx = context_of(request)
    answer = ask_calls(
        ctx,
        body.question,
        agent=body.agent,
        since=body.since,
        until=body.until,
        language=body.language,
        speaker_role=body.role,
        limit=body.limit,
        agents=reach_agents(ctx, who),
        purpose=body.purpose,
        actor=actor_of(who),
    )
    return answer.to_json()
