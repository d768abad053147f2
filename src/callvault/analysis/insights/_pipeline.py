"""The insight stages of one call, in order, each timed and stamped.

"metrics" -> "sentiment" -> "keywords" -> "trackers" (with the compliance checks) ->
"summary" -> "actions". The summary takes the keywords as its topics. With an LLM
endpoint the summary and action items come from it (`_llm`), citing utterances; when the
endpoint fails the built-in methods run instead and the result says why (`fallback`),
without any text of the call.

The pipeline reads a transcript that has already been redacted: no stage ever sees a
card number, and a placeholder such as "[CREDIT_CARD]" is not a keyword.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from callvault.analysis._records import Transcript
from callvault.analysis.insights import (
    _actions,
    _keywords,
    _llm,
    _metrics,
    _sentiment,
    _summary,
    _trackers,
)
from callvault.analysis.insights._records import CallFacts, StageStamp
from callvault.errors import AnalysisError

__all__ = ["INSIGHT_FORMAT", "INSIGHT_STAGES", "CallInsights", "InsightParams", "InsightsPipeline"]

logger = logging.getLogger("callvault.analysis")

INSIGHT_FORMAT = 1
INSIGHT_STAGES = ("metrics", "sentiment", "keywords", "trackers", "summary", "actions")


@dataclass(frozen=True)
class InsightParams:
    """The parameters of every stage; `llm` None means the built-in summary and actions."""

    metrics: _metrics.MetricsParams = field(default_factory=_metrics.MetricsParams)
    sentiment: _sentiment.SentimentParams = field(default_factory=_sentiment.SentimentParams)
    keywords: _keywords.KeywordsParams = field(default_factory=_keywords.KeywordsParams)
    trackers: _trackers.TrackerParams = field(default_factory=_trackers.TrackerParams)
    summary: _summary.SummaryParams = field(default_factory=_summary.SummaryParams)
    actions: _actions.ActionParams = field(default_factory=_actions.ActionParams)
    llm: _llm.LlmEndpoint | None = None

    def validate(self) -> None:
        """Raise ConfigError for a parameter no stage can run with, before any work."""
        self.trackers.validate()
        self.summary.validate()
        self.actions.validate()
        if self.llm is not None:
            self.llm.validate()


@dataclass(frozen=True)
class StageRun:
    stamp: StageStamp
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {**self.stamp.to_json(), "seconds": round(self.seconds, 4)}


@dataclass(frozen=True)
class CallInsights:
    """Everything the insight stages found in one call."""

    metrics: _metrics.CallMetrics
    sentiment: _sentiment.SentimentResult
    keywords: _keywords.KeywordsResult
    trackers: _trackers.TrackersResult
    summary: _summary.SummaryResult
    actions: _actions.ActionsResult
    stages: tuple[StageRun, ...]
    fallback: str | None = None  # why the LLM's results are not here, when configured

    @property
    def seconds(self) -> float:
        return sum(stage.seconds for stage in self.stages)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": INSIGHT_FORMAT,
            "stages": [stage.to_json() for stage in self.stages],
            "metrics": self.metrics.to_json(),
            "sentiment": self.sentiment.to_json(),
            "keywords": self.keywords.to_json(),
            "trackers": self.trackers.to_json(),
            "summary": self.summary.to_json(),
            "actions": self.actions.to_json(),
            "fallback": self.fallback,
        }


def _no_hook(stage: str, fraction: float) -> None:
    pass


class InsightsPipeline:
    """Runs the insight stages over a (redacted) transcript; touches no database."""

    def __init__(self, params: InsightParams | None = None) -> None:
        self.params = params or InsightParams()
        self.params.validate()

    def run(
        self,
        transcript: Transcript,
        facts: CallFacts,
        *,
        hook: Callable[[str, float], None] | None = None,
    ) -> CallInsights:
        report = hook or _no_hook
        params = self.params
        runs: list[StageRun] = []

        def timed(name: str, work: Callable[[], Any]) -> Any:
            report(name, 0.0)
            started = time.perf_counter()
            result = work()
            runs.append(StageRun(result.stamp, time.perf_counter() - started))
            report(name, 1.0)
            return result

        metrics = timed("metrics", lambda: _metrics.run(transcript, facts, params.metrics))
        sentiment = timed("sentiment", lambda: _sentiment.run(transcript, facts, params.sentiment))
        keywords = timed("keywords", lambda: _keywords.run(transcript, facts, params.keywords))
        trackers = timed("trackers", lambda: _trackers.run(transcript, facts, params.trackers))
        topics = [k.text for k in keywords.keywords]
        fallback = None
        summary: _summary.SummaryResult | None = None
        actions: _actions.ActionsResult | None = None
        if params.llm is not None and transcript.utterances:
            report("summary", 0.0)
            started = time.perf_counter()
            try:
                summary, actions = _llm.LlmSummarizer(params.llm).run(transcript, facts)
            except AnalysisError as exc:
                # The message names the endpoint and the failure, never the call's text.
                fallback = str(exc)
                logger.warning("LLM summary failed; using the built-in methods: %s", exc)
            else:
                seconds = time.perf_counter() - started
                runs.append(StageRun(summary.stamp, seconds))
                runs.append(StageRun(actions.stamp, 0.0))
            report("summary", 1.0)
        if summary is None or actions is None:
            summary = timed(
                "summary", lambda: _summary.run(transcript, facts, params.summary, topics)
            )
            actions = timed("actions", lambda: _actions.run(transcript, facts, params.actions))
        return CallInsights(
            metrics=metrics,
            sentiment=sentiment,
            keywords=keywords,
            trackers=trackers,
            summary=summary,
            actions=actions,
            stages=tuple(runs),
            fallback=fallback,
        )
