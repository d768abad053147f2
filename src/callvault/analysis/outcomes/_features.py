"""The features of one call, read from its insights document (docs/json.md `insights`).

Numbers only: a tracker is counted by its name (`tracker:objection.price`), a keyword of
the call by its text (`topic:replacement`); no transcript text is kept beyond the
keyword itself, which the insights already hold. A section that is missing (a call
processed before that stage existed, a mono call without roles) reads as 0, so that a
call is never refused for an absent stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["BASE_FEATURES", "call_features"]

# The features every call has, in this order; tracker and topic indicators follow them.
BASE_FEATURES: tuple[str, ...] = (
    "duration_min",
    "agent_talk_share",
    "agent_longest_monologue_s",
    "agent_question_rate",
    "customer_questions",
    "agent_patience_s",
    "agent_interruptions",
    "interactivity",
    "silence_share",
    "sentiment_mean",
    "customer_sentiment_start",
    "customer_sentiment_end",
    "customer_sentiment_trend",
    "next_steps",
    "commitments",
    "tracker_hits",
)


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _section(insights: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = insights.get(name)
    return value if isinstance(value, Mapping) else {}


def _speaker(metrics: Mapping[str, Any], role: str) -> Mapping[str, Any]:
    for speaker in metrics.get("speakers") or ():
        if isinstance(speaker, Mapping) and speaker.get("role") == role:
            return speaker
    return {}


def call_features(document: Mapping[str, Any]) -> dict[str, float]:
    """The features of a call from its insights document (the stored artifact, with
    `insights` at the top, or the `insights` object itself)."""
    inner = document.get("insights")
    insights: Mapping[str, Any] = inner if isinstance(inner, Mapping) else document
    metrics = _section(insights, "metrics")
    agent = _speaker(metrics, "agent")
    customer = _speaker(metrics, "customer")
    monologue = agent.get("longest_monologue")
    sentiment = _section(insights, "sentiment")
    scores = [
        _num(item.get("score"))
        for item in sentiment.get("items") or ()
        if isinstance(item, Mapping)
    ]
    trend = sentiment.get("customer")
    trend = trend if isinstance(trend, Mapping) else {}
    actions = [
        a for a in _section(insights, "actions").get("items") or () if isinstance(a, Mapping)
    ]
    trackers = _section(insights, "trackers")
    counts = trackers.get("counts")
    counts = counts if isinstance(counts, Mapping) else {}
    features = {
        "duration_min": _num(metrics.get("duration")) / 60.0,
        "agent_talk_share": _num(agent.get("talk_share")),
        "agent_longest_monologue_s": _num(
            monologue.get("duration") if isinstance(monologue, Mapping) else None
        ),
        "agent_question_rate": _num(agent.get("question_rate")),
        "customer_questions": _num(customer.get("questions")),
        "agent_patience_s": _num(agent.get("patience")),
        "agent_interruptions": _num(agent.get("interruption_count")),
        "interactivity": _num(metrics.get("interactivity")),
        "silence_share": _num(metrics.get("silence_share")),
        "sentiment_mean": sum(scores) / len(scores) if scores else 0.0,
        "customer_sentiment_start": _num(trend.get("start")),
        "customer_sentiment_end": _num(trend.get("end")),
        "customer_sentiment_trend": _num(trend.get("trend")),
        "next_steps": float(len(actions)),
        "commitments": float(sum(1 for a in actions if a.get("kind") == "commitment")),
        "tracker_hits": float(sum(_num(v) for v in counts.values())),
    }
    for name, count in sorted(counts.items()):
        if isinstance(name, str) and _num(count) > 0:
            features[f"tracker:{name}"] = _num(count)
    for keyword in _section(insights, "keywords").get("keywords") or ():
        if isinstance(keyword, Mapping) and isinstance(keyword.get("text"), str):
            features[f"topic:{keyword['text'].lower()}"] = 1.0
    return features
