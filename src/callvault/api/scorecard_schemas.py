"""The API's bodies of scorecards (issue 22), declared as `schemas` declares the others
(a body is byte for byte what the record's `to_json()` writes)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from callvault.api.schemas import _Out

__all__ = [
    "EvidenceOut",
    "QuestionScoreOut",
    "ScoreOverrideIn",
    "ScoreOverrideOut",
    "ScorecardOut",
    "SectionScoreOut",
]


class ScoreOverrideIn(BaseModel):
    question: str = Field(min_length=1, max_length=63)
    score: int = Field(ge=0, le=100)
    reason: str = Field(min_length=1, max_length=256)


class ScoreOverrideOut(_Out):
    """A reviewer's override of one question's score: old and new, who, why, when."""

    id: str
    question: str
    old: int | None
    new: int
    actor: str
    reason: str
    created_at: str
    applied: bool


class QuestionScoreOut(_Out):
    id: str
    text: str
    weight: int | float
    score: int | None
    machine_score: int | None
    confidence: int | float
    evidence: list[int]
    notes: list[str]
    overridden: bool


class SectionScoreOut(_Out):
    id: str
    title: str
    weight: int | float
    score: int | float | None
    questions: list[QuestionScoreOut]


class EvidenceOut(_Out):
    utterance: int
    start: int | float
    end: int | float
    speaker: str
    text: str


class ScorecardOut(_Out):
    """A call's scorecard with the overrides applied, the utterances it cites, and the
    override history (docs/scorecards.md)."""

    call_id: str
    scored_at: str | None
    format: int
    rubric: str
    version: str
    scale: list[int]
    overall: int | float | None
    unscored: int
    sections: list[SectionScoreOut]
    evidence: list[EvidenceOut]
    history: list[ScoreOverrideOut]
