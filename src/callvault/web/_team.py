"""The team page (issue 22): the dashboard of `services.team` as tables and SVG charts:
talk ratio bars per person and group, and the weekly sentiment trend as a line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from callvault.api import context_of
from callvault.errors import InputError
from callvault.services import GroupFigures, team_dashboard
from callvault.services.access import TEAM_READ, require
from callvault.web._core import PageRoute, render, signed_in

router = APIRouter(route_class=PageRoute, include_in_schema=False)

CHART_W = 600
CHART_H = 160
BAR_W = 300


def _day(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        raise InputError(f"{name} {value!r} is not a date; for example 2026-11-23") from None


def _epsilon(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise InputError(f"epsilon {value!r} is not a number; for example 1.0") from None


def _row(g: GroupFigures) -> dict[str, Any]:
    share = g.talk_ratio.value
    return {
        "g": g,
        "bar": round(BAR_W * share) if share is not None else 0,
        "how": "exact" if g.calls.mechanism == "exact" else f"noise, ε {g.epsilon:g}",
    }


def _trend(g: GroupFigures) -> dict[str, Any]:
    """The weekly sentiment (-1..1) of one group as polyline points."""
    points = [(p.week, p.sentiment.value) for p in g.sentiment if p.sentiment.value is not None]
    weeks = [p.week for p in g.sentiment]
    step = (CHART_W - 40) / max(len(weeks) - 1, 1)
    placed = [
        (round(20 + step * weeks.index(week), 1), round(CHART_H / 2 * (1 - value), 1), week, value)
        for week, value in points
    ]
    return {"name": g.name, "kind": g.kind, "points": placed}


@router.get("/team")
def team_page(
    request: Request,
    team: str | None = None,
    since: str | None = None,
    until: str | None = None,
    epsilon: str | None = None,
) -> Response:
    signed = signed_in(request)
    require(signed.who, TEAM_READ)
    board = team_dashboard(
        context_of(request),
        team=team or None,
        since=_day(since, "since"),
        until=_day(until, "until"),
        epsilon=_epsilon(epsilon),
    )
    shown = [g for g in (*board.persons, *board.groups)]
    view = {
        "board": board,
        "rows": [_row(g) for g in shown],
        "trends": [_trend(g) for g in shown if g.suppressed is None],
        "trackers": [
            (g.name, [(t.tracker, t.rate.value) for t in g.trackers])
            for g in shown
            if g.suppressed is None
        ],
        "chart_w": CHART_W,
        "chart_h": CHART_H,
        "bar_w": BAR_W,
        "query": {"team": team or "", "since": since or "", "until": until or "",
                  "epsilon": epsilon or ""},
    }  # fmt: skip
    return render(request, "team.html", view, signed=signed, title="Team")
