"""Use case: the team dashboard (issue 22): talk ratio, patience, objections handled,
sentiment by week and tracker rates per agent, per team and for the organisation,
without showing one person's figures to a viewer who may not read that person's calls.

- A person's figures (an agent's) are shown only when the viewer may read the agent's
  calls (`access.call_filter`: a rep their own, a manager their team's, admin and
  compliance everyone's); they are then exact.
- A team's or the organisation's figures are exact when the viewer may read every call
  behind them. Otherwise they are suppressed when fewer than k distinct agents made those
  calls (`CALLVAULT_TEAM_MIN_GROUP`), and with an epsilon (`CALLVAULT_TEAM_EPSILON` or the
  call's) each count and sum is released with noise (`callvault.privacy`); the dashboard
  states the epsilon each group spent and their sum (sequential composition).
- Restricted calls (GDPR art. 18) and quarantined calls are left out; each call's
  insights are read through the vault's audited read, and the dashboard itself is one
  audit event `team.dashboard` with counts only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from callvault.errors import InputError
from callvault.privacy import check_epsilon, check_k
from callvault.services._context import Context
from callvault.services._team_figures import (
    BOUNDS,
    CallFigures,
    GroupFigures,
    call_figures,
    group_figures,
    observed,
    week_of,
)
from callvault.services.access import TEAM_READ, require
from callvault.services.accounts import agents_of_team
from callvault.services.callinfo import list_calls, read_insights_many
from callvault.services.reach import agent_team, reach_agents
from callvault.vault import CallFilter

__all__ = ["PURPOSE", "GroupFigures", "TeamDashboard", "team_dashboard"]

PURPOSE = "team dashboard"
ORGANISATION = "organisation"


@dataclass(frozen=True)
class TeamDashboard:
    """What the viewer may see: their reachable persons, and the groups."""

    team: str | None
    since: datetime | None
    until: datetime | None
    k: int
    epsilon: float | None  # per noisy count or sum; None: exact figures
    persons: tuple[GroupFigures, ...]
    groups: tuple[GroupFigures, ...]
    calls: int  # calls whose insights went into the figures
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> calls left out

    @property
    def epsilon_spent(self) -> float:
        """The epsilon of every noisy release shown, added up (sequential composition)."""
        return float(sum(g.epsilon for g in self.groups))

    def to_json(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "k": self.k,
            "epsilon": self.epsilon,
            "epsilon_spent": round(self.epsilon_spent, 6),
            "privacy_unit": "one call",
            "bounds": {name: list(b) for name, b in BOUNDS.items()},
            "calls": self.calls,
            "skipped": dict(self.skipped),
            "persons": [p.to_json() for p in self.persons],
            "groups": [g.to_json() for g in self.groups],
        }


def _aware(moment: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC (a date given on the command line is)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _gather(
    ctx: Context, agents: Sequence[str] | None, since: datetime | None, until: datetime | None
) -> tuple[list[CallFigures], dict[str, int]]:
    """Each usable call's figures; restricted, quarantined and unprocessed calls skipped."""
    calls = list_calls(
        ctx, CallFilter.of(agents=agents, since=since, until=until),
        actor=ctx.actor, purpose=PURPOSE,
    )  # fmt: skip
    restricted = ctx.vault.restrictions.restricted_calls([c.id for c in calls])
    skipped = {"restricted": 0, "quarantined": 0, "no-insights": 0}
    teams: dict[str, str | None] = {}
    figures = []
    readable = [c for c in calls if c.id not in restricted and c.consent_state != "quarantined"]
    documents = read_insights_many(ctx, [c.id for c in readable], actor=ctx.actor, purpose=PURPOSE)
    for call in calls:
        if call.id in restricted:
            skipped["restricted"] += 1
            continue
        if call.consent_state == "quarantined":
            skipped["quarantined"] += 1
            continue
        raw = documents.get(call.id)
        if raw is None:
            skipped["no-insights"] += 1
            continue
        if call.agent is not None and call.agent not in teams:
            teams[call.agent] = agent_team(ctx, call.agent)
        team = teams.get(call.agent) if call.agent is not None else None
        moment = call.started_at or call.created_at
        figures.append(
            call_figures(json.loads(raw), agent=call.agent, team=team, week=week_of(moment))
        )
    return figures, skipped


def team_dashboard(
    ctx: Context,
    *,
    team: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    k: int | None = None,
    epsilon: float | None = None,
    rng: np.random.Generator | None = None,
) -> TeamDashboard:
    """The dashboard the acting principal may see (see the module). `k` and `epsilon`
    default to the settings; `rng` is for tests (None: an unseeded generator)."""
    who = ctx.who
    require(who, TEAM_READ)
    k = check_k(ctx.config.team_min_group if k is None else k)
    if epsilon is None:
        epsilon = ctx.config.team_epsilon
    if epsilon is not None:
        epsilon = check_epsilon(epsilon)
    since, until = _aware(since), _aware(until)
    if since is not None and until is not None and since > until:
        raise InputError(f"--since {since.isoformat()} is after --until {until.isoformat()}")
    reach = reach_agents(ctx, who)  # None: every call
    members: list[str] | None = None
    if team is not None:
        members = agents_of_team(ctx, team)
        if not members:
            raise InputError(f"team {team!r} has no members; `callvault users list` shows teams")
    figures, skipped = _gather(ctx, members, since, until)
    weeks, trackers = observed(figures)
    reachable = set(reach) if reach is not None else None

    def in_reach(calls: Sequence[CallFigures]) -> bool:
        if reachable is None:
            return True
        return all(c.agent is not None and c.agent in reachable for c in calls)

    def figures_of(kind: str, name: str, calls: Sequence[CallFigures]) -> GroupFigures:
        return group_figures(
            kind, name, calls, visible=in_reach(calls), k=k, epsilon=epsilon,
            weeks=weeks, trackers=trackers, rng=rng,
        )  # fmt: skip

    agents = sorted({c.agent for c in figures if c.agent is not None})
    persons = tuple(
        figures_of("person", agent, [c for c in figures if c.agent == agent])
        for agent in agents
        if reachable is None or agent in reachable
    )
    groups = []
    if team is None:
        groups.append(figures_of("organisation", ORGANISATION, figures))
    for name in sorted({c.team for c in figures if c.team is not None}):
        groups.append(figures_of("team", name, [c for c in figures if c.team == name]))
    dashboard = TeamDashboard(
        team=team, since=since, until=until, k=k, epsilon=epsilon, persons=persons,
        groups=tuple(groups), calls=len(figures), skipped=skipped,
    )  # fmt: skip
    ctx.vault.record_event(
        "team.dashboard",
        "team",
        team,
        purpose=PURPOSE,
        actor=ctx.actor,
        details={
            "calls": len(figures),
            "skipped": skipped,
            "persons": len(persons),
            "groups": len(groups),
            "suppressed": sum(g.suppressed is not None for g in groups),
            "k": k,
            "epsilon": epsilon,
            "epsilon_spent": round(dashboard.epsilon_spent, 6),
        },
    )
    return dashboard
