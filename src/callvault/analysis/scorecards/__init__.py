"""Scorecards: a call scored per question of a TOML rubric, with the utterances that
justify each score and a confidence (issue 22). Loading a rubric fails closed
(`load_rubric`); scoring is pure (`score_call`: a transcript and an insights document
in, frozen records out); a reviewer's overrides are applied on top (`with_overrides`).
See docs/scorecards.md.
"""

from __future__ import annotations

from callvault.analysis.scorecards._rubric import (
    CALL_METRICS,
    COMPLIANCE_CHECKS,
    DEFAULT_RUBRIC,
    SPEAKER_METRICS,
    ComplianceRule,
    MetricBand,
    MetricRule,
    PhraseRule,
    Question,
    Rubric,
    RubricSection,
    Rule,
    TrackerRule,
    default_rubric,
    load_rubric,
    parse_rubric,
)
from callvault.analysis.scorecards._score import (
    ABSENT,
    SCORECARD_FORMAT,
    QuestionScore,
    Scorecard,
    SectionScore,
    score_call,
    with_overrides,
)

__all__ = [
    "ABSENT",
    "CALL_METRICS",
    "COMPLIANCE_CHECKS",
    "DEFAULT_RUBRIC",
    "SCORECARD_FORMAT",
    "SPEAKER_METRICS",
    "ComplianceRule",
    "MetricBand",
    "MetricRule",
    "PhraseRule",
    "Question",
    "QuestionScore",
    "Rubric",
    "RubricSection",
    "Rule",
    "Scorecard",
    "SectionScore",
    "TrackerRule",
    "default_rubric",
    "load_rubric",
    "parse_rubric",
    "score_call",
    "with_overrides",
]
