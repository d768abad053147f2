"""Conversation intelligence over a transcript: talk metrics, sentiment, keywords,
trackers and compliance checks, a summary and action items.

Each stage is a module with its parameters, a `StageStamp` (name, version, parameters)
on every result, a confidence on every finding and the indices of the utterances it came
from. `InsightsPipeline` runs them in order; the caller stores the result.
"""

from __future__ import annotations

from callvault.analysis.insights._actions import ActionItem, ActionParams, ActionsResult
from callvault.analysis.insights._compliance import (
    DEFAULT_DISCLOSURE,
    DEFAULT_PROHIBITED,
    ComplianceParams,
)
from callvault.analysis.insights._dates import resolve_due
from callvault.analysis.insights._keywords import KeywordsParams, KeywordsResult
from callvault.analysis.insights._llm import LlmEndpoint, LlmSummarizer
from callvault.analysis.insights._matching import words_of
from callvault.analysis.insights._metrics import CallMetrics, MetricsParams
from callvault.analysis.insights._pipeline import (
    INSIGHT_FORMAT,
    INSIGHT_STAGES,
    CallInsights,
    InsightParams,
    InsightsPipeline,
)
from callvault.analysis.insights._records import AGENT, CUSTOMER, CallFacts, StageStamp
from callvault.analysis.insights._sentiment import SentimentParams, SentimentResult
from callvault.analysis.insights._summary import SummaryParams, SummaryResult
from callvault.analysis.insights._trackers import (
    KINDS as TRACKER_KINDS,
)
from callvault.analysis.insights._trackers import (
    TrackerParams,
    TrackerSpec,
    TrackersResult,
    tracker_from_config,
)

__all__ = [
    "AGENT",
    "DEFAULT_DISCLOSURE",
    "DEFAULT_PROHIBITED",
    "CUSTOMER",
    "INSIGHT_FORMAT",
    "INSIGHT_STAGES",
    "TRACKER_KINDS",
    "ActionItem",
    "ActionParams",
    "ActionsResult",
    "CallFacts",
    "CallInsights",
    "CallMetrics",
    "ComplianceParams",
    "InsightParams",
    "InsightsPipeline",
    "KeywordsParams",
    "KeywordsResult",
    "LlmEndpoint",
    "LlmSummarizer",
    "MetricsParams",
    "SentimentParams",
    "SentimentResult",
    "StageStamp",
    "SummaryParams",
    "SummaryResult",
    "TrackerParams",
    "TrackerSpec",
    "TrackersResult",
    "resolve_due",
    "tracker_from_config",
    "words_of",
]
