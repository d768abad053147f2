"""The team dashboard (issue 22): persons' figures within the caller's reach, groups of
fewer than k agents suppressed, noisy figures with their epsilon stated."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict

from callvault.api._auth import context_of, principal
from callvault.services import team_dashboard
from callvault.services.access import TEAM_READ, Principal, require

router = APIRouter(prefix="/team", tags=["team"])


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class ReleaseOut(_Out):
    """One figure: `value` null when suppressed; `mechanism` exact, geometric, laplace
    or withheld; `epsilon` and `sensitivity` of a noisy one; `bounds` its clamping."""

    value: float | None
    mechanism: str
    epsilon: float | None
    sensitivity: float | None
    bounds: list[float] | None
    suppressed: str | None


class WeekOut(_Out):
    week: str
    sentiment: ReleaseOut


class TrackerRateOut(_Out):
    tracker: str
    rate: ReleaseOut


class GroupOut(_Out):
    """A person's (agent's), a team's or the organisation's figures."""

    kind: str
    name: str
    visible: bool
    suppressed: str | None
    epsilon: float
    calls: ReleaseOut
    talk_ratio: ReleaseOut
    patience_s: ReleaseOut
    objections: ReleaseOut
    objections_handled: ReleaseOut
    sentiment_by_week: list[WeekOut]
    tracker_rates: list[TrackerRateOut]


class TeamDashboardOut(_Out):
    """The dashboard: `epsilon` per noisy figure (null: exact), `epsilon_spent` the sum
    over every noisy figure shown (sequential composition), per call (`privacy_unit`)."""

    team: str | None
    since: str | None
    until: str | None
    k: int
    epsilon: float | None
    epsilon_spent: float
    privacy_unit: str
    bounds: dict[str, list[float]]
    calls: int
    skipped: dict[str, int]
    persons: list[GroupOut]
    groups: list[GroupOut]


@router.get("", response_model=TeamDashboardOut)
def team(
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    team: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    k: Annotated[int | None, Query(ge=1, le=1000)] = None,
    epsilon: Annotated[float | None, Query(gt=0, le=100)] = None,
) -> dict[str, Any]:
    """Talk ratio, patience, objections handled, sentiment by week and tracker rates:
    a rep sees their own figures, a manager their team's persons, admin and compliance
    everyone's; other figures only for groups of at least k agents (audited)."""
    require(who, TEAM_READ)
    board = team_dashboard(
        context_of(request), team=team, since=since, until=until, k=k, epsilon=epsilon
    )
    return board.to_json()
