"""The figures of team views, pure: one call's figures from its stored insights, and a
group's figures from its calls' (exact, or under differential privacy).

What one call gives (docs/json.md, `insights`):

- talk ratio: the agents' share of the call's talk time (`metrics.speakers[].talk_time`
  of role agent over `metrics.total_talk`);
- patience: the agents' mean pause before answering once the other side stopped
  (`metrics.speakers[].patience`, seconds);
- objections: the hits of `objection` trackers; one is handled when an agent speaks
  after it (an agent utterance later than the hit's utterances);
- sentiment: the mean score of the customer's utterances (`sentiment.items`);
- trackers: the trackers with at least one hit (`trackers.counts`).

Under differential privacy the unit protected is one call (a call added or removed);
each value is clamped to the bounds in `BOUNDS` first, which fixes its sensitivity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from callvault.privacy import (
    MeanRelease,
    Release,
    exact,
    noisy_count,
    noisy_mean,
    noisy_sum,
    sequential_epsilon,
    suppress_small,
    withheld,
)

__all__ = [
    "BOUNDS",
    "CallFigures",
    "GroupFigures",
    "TrackerRate",
    "WeekPoint",
    "call_figures",
    "group_figures",
    "observed",
    "week_of",
]

# Clamping bounds of each per-call value under differential privacy (issue 22: stated).
BOUNDS: Mapping[str, tuple[float, float]] = {
    "talk_ratio": (0.0, 1.0),
    "patience_s": (0.0, 10.0),  # the metrics stage counts pauses of 0 to 10 s only
    "objections_per_call": (0.0, 10.0),
    "sentiment": (-1.0, 1.0),
}


def week_of(moment: datetime) -> str:
    """The Monday (ISO date) of the week `moment` falls in."""
    day = moment.date()
    return (day - timedelta(days=day.weekday())).isoformat()


@dataclass(frozen=True)
class CallFigures:
    """What one call contributes to the views (no text, no names but the agent's)."""

    agent: str | None
    team: str | None
    week: str
    talk_ratio: float | None
    patience: float | None
    objections: int
    handled: int
    sentiment: float | None
    trackers: frozenset[str]


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def call_figures(
    document: Mapping[str, Any], *, agent: str | None, team: str | None, week: str
) -> CallFigures:
    """The figures of one call from its stored insights document."""
    insights = document.get("insights") or {}
    metrics = insights.get("metrics") or {}
    speakers = [s for s in metrics.get("speakers") or [] if isinstance(s, Mapping)]
    agents = [s for s in speakers if s.get("role") == "agent"]
    total = _float(metrics.get("total_talk")) or 0.0
    talk_ratio = None
    if agents and total > 0:
        talk_ratio = sum(_float(s.get("talk_time")) or 0.0 for s in agents) / total
    pauses = [p for p in (_float(s.get("patience")) for s in agents) if p is not None]
    patience = sum(pauses) / len(pauses) if pauses else None
    agent_said = [int(u) for s in agents for u in s.get("utterances") or []]
    trackers = insights.get("trackers") or {}
    hits = [h for h in trackers.get("hits") or [] if h.get("kind") == "objection"]
    handled = 0
    for hit in hits:
        last = max((int(u) for u in hit.get("utterances") or []), default=-1)
        if any(u > last for u in agent_said):
            handled += 1
    customers = {s.get("speaker") for s in speakers if s.get("role") == "customer"}
    sentiment = insights.get("sentiment") or {}
    scores = [
        score
        for item in sentiment.get("items") or []
        if item.get("speaker") in customers and (score := _float(item.get("score"))) is not None
    ]
    counts = trackers.get("counts") or {}
    return CallFigures(
        agent=agent,
        team=team,
        week=week,
        talk_ratio=talk_ratio,
        patience=patience,
        objections=len(hits),
        handled=handled,
        sentiment=sum(scores) / len(scores) if scores else None,
        trackers=frozenset(str(name) for name, n in counts.items() if n),
    )


@dataclass(frozen=True)
class WeekPoint:
    week: str  # the Monday, ISO date
    sentiment: Release

    def to_json(self) -> dict[str, Any]:
        return {"week": self.week, "sentiment": self.sentiment.to_json()}


@dataclass(frozen=True)
class TrackerRate:
    tracker: str
    rate: Release  # the share of the group's calls with a hit

    def to_json(self) -> dict[str, Any]:
        return {"tracker": self.tracker, "rate": self.rate.to_json()}


@dataclass(frozen=True)
class GroupFigures:
    """The figures of a person (an agent), a team or the organisation. `visible`: the
    viewer may read every call behind them (exact figures); `suppressed`: why none are
    shown; `epsilon`: what their release spent (0 when exact)."""

    kind: str  # "person", "team" or "organisation"
    name: str
    visible: bool
    calls: Release
    talk_ratio: Release
    patience: Release
    objections: Release
    objections_handled: Release  # the share of objections an agent answered
    sentiment: tuple[WeekPoint, ...]
    trackers: tuple[TrackerRate, ...]
    suppressed: str | None = None
    epsilon: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "visible": self.visible,
            "suppressed": self.suppressed,
            "epsilon": round(self.epsilon, 6),
            "calls": self.calls.to_json(),
            "talk_ratio": self.talk_ratio.to_json(),
            "patience_s": self.patience.to_json(),
            "objections": self.objections.to_json(),
            "objections_handled": self.objections_handled.to_json(),
            "sentiment_by_week": [p.to_json() for p in self.sentiment],
            "tracker_rates": [t.to_json() for t in self.trackers],
        }


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _exact(kind: str, name: str, calls: Sequence[CallFigures], weeks: Sequence[str],
           trackers: Sequence[str]) -> GroupFigures:  # fmt: skip
    n = len(calls)
    objections = sum(c.objections for c in calls)
    handled = sum(c.handled for c in calls)
    return GroupFigures(
        kind=kind,
        name=name,
        visible=True,
        calls=exact(n),
        talk_ratio=exact(_mean([c.talk_ratio for c in calls if c.talk_ratio is not None])),
        patience=exact(_mean([c.patience for c in calls if c.patience is not None])),
        objections=exact(objections),
        objections_handled=exact(handled / objections if objections else None),
        sentiment=tuple(
            WeekPoint(
                w,
                exact(
                    _mean([c.sentiment for c in calls if c.week == w and c.sentiment is not None])
                ),
            )
            for w in weeks
        ),
        trackers=tuple(
            TrackerRate(t, exact(sum(t in c.trackers for c in calls) / n if n else None))
            for t in trackers
        ),
    )


def _suppressed(kind: str, name: str, reason: str, weeks: Sequence[str],
                trackers: Sequence[str]) -> GroupFigures:  # fmt: skip
    gone = withheld(reason)
    return GroupFigures(
        kind=kind,
        name=name,
        visible=False,
        calls=gone,
        talk_ratio=gone,
        patience=gone,
        objections=gone,
        objections_handled=gone,
        sentiment=tuple(WeekPoint(w, gone) for w in weeks),
        trackers=tuple(TrackerRate(t, gone) for t in trackers),
        suppressed=reason,
    )


def _ratio(top: Release, bottom: Release, bounds: tuple[float, float], epsilon: float) -> Release:
    """A rate from two noisy releases (post-processing): clamped to `bounds`."""
    value = None
    if top.value is not None and bottom.value is not None and bottom.value >= 1:
        value = min(max(top.value / bottom.value, bounds[0]), bounds[1])
    return Release(value, top.mechanism, epsilon, top.sensitivity, bounds)


def _noisy(kind: str, name: str, calls: Sequence[CallFigures], weeks: Sequence[str],
           trackers: Sequence[str], epsilon: float,
           rng: np.random.Generator | None) -> GroupFigures:  # fmt: skip
    count = noisy_count(len(calls), epsilon, rng)
    spent: list[Release] = [count]

    def mean(values: list[float], bounds: str) -> Release:
        low, high = BOUNDS[bounds]
        released: MeanRelease = noisy_mean(values, low, high, epsilon, rng)
        spent.append(released.mean)
        return released.mean

    talk = mean([c.talk_ratio for c in calls if c.talk_ratio is not None], "talk_ratio")
    patience = mean([c.patience for c in calls if c.patience is not None], "patience_s")
    low, high = BOUNDS["objections_per_call"]
    objections = noisy_sum([float(c.objections) for c in calls], low, high, epsilon, rng)
    handled = noisy_sum([float(c.handled) for c in calls], low, high, epsilon, rng)
    spent += [objections, handled]
    if objections.value is not None:
        objections = Release(
            max(0.0, round(objections.value)), objections.mechanism, epsilon,
            objections.sensitivity, objections.bounds,
        )  # fmt: skip
    sentiment = tuple(
        WeekPoint(
            w,
            mean(
                [c.sentiment for c in calls if c.week == w and c.sentiment is not None], "sentiment"
            ),
        )  # fmt: skip
        for w in weeks
    )
    rates = []
    for t in trackers:
        hits = noisy_count(sum(t in c.trackers for c in calls), epsilon, rng)
        spent.append(hits)
        rates.append(TrackerRate(t, _ratio(hits, count, (0.0, 1.0), epsilon)))
    return GroupFigures(
        kind=kind,
        name=name,
        visible=False,
        calls=count,
        talk_ratio=talk,
        patience=patience,
        objections=objections,
        objections_handled=_ratio(handled, objections, (0.0, 1.0), epsilon),
        sentiment=sentiment,
        trackers=tuple(rates),
        epsilon=sequential_epsilon(spent),
    )


def group_figures(
    kind: str,
    name: str,
    calls: Sequence[CallFigures],
    *,
    visible: bool,
    k: int,
    epsilon: float | None,
    weeks: Sequence[str],
    trackers: Sequence[str],
    rng: np.random.Generator | None = None,
) -> GroupFigures:
    """A group's figures: exact when `visible`; otherwise suppressed below `k` distinct
    agents, and with `epsilon` released with noise (each count or sum spends `epsilon`;
    `GroupFigures.epsilon` is their sum)."""
    if visible:
        return _exact(kind, name, calls, weeks, trackers)
    people = {c.agent for c in calls if c.agent is not None}
    _, small = suppress_small({name: people}, k)
    if name in small:
        return _suppressed(kind, name, small[name].reason, weeks, trackers)
    if epsilon is None:
        return replace(_exact(kind, name, calls, weeks, trackers), visible=False)
    return _noisy(kind, name, calls, weeks, trackers, epsilon, rng)


def observed(calls: Iterable[CallFigures]) -> tuple[list[str], list[str]]:
    """The weeks and the trackers of `calls`, sorted: the keys every group is shown on."""
    rows = list(calls)
    return sorted({c.week for c in rows}), sorted({t for c in rows for t in c.trackers})
