"""Scoring one call against a rubric: pure, from its transcript and insights document.

Each evidence rule of a question gives an outcome (a score on the rubric's scale, a
confidence, the utterances behind it) or none at all: a phrase rule whose role never
speaks, a tracker rule without a trackers section, a metric the call has no value for,
a rule whose `missing` score is not given and whose evidence is absent. A question's
score is the weighted mean of its rules' outcomes, rounded half up; a question with no
outcome scores None ("not enough evidence"), never a guess, and its section's weighted
score leaves it out (as the overall score leaves out a section without any score).

Confidence (0..1) is the product of how sure the evidence is (a phrase's match, a
tracker hit's or a compliance check's confidence, the metrics stage's) and of the
recogniser's confidence on the utterances it rests on (`0.5 + 0.5 * asr`); evidence
that is absent rather than contrary counts `ABSENT` of that; a metric within `margin`
of the edge of its band counts down to half. The records hold utterance indices only,
never transcript text: a reader shows the words from the transcript at display time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from callvault.analysis._records import Transcript
from callvault.analysis.insights._matching import matches, tokens_of, words_of
from callvault.analysis.scorecards._rubric import (
    ComplianceRule,
    MetricRule,
    PhraseRule,
    Question,
    Rubric,
    Rule,
    TrackerRule,
)

__all__ = [
    "ABSENT",
    "SCORECARD_FORMAT",
    "QuestionScore",
    "Scorecard",
    "SectionScore",
    "score_call",
    "with_overrides",
]

SCORECARD_FORMAT = 1
ABSENT = 0.6  # evidence absent rather than contrary: less sure


@dataclass(frozen=True)
class _Outcome:
    score: int
    confidence: float
    utterances: tuple[int, ...]
    weight: float
    note: str


@dataclass(frozen=True)
class QuestionScore:
    """One question's score (None: not enough evidence), its confidence, the utterances
    that justify it and short notes on each rule (no transcript text). `machine_score` is
    what the rules gave; `score` differs from it once a reviewer overrode it."""

    id: str
    text: str
    weight: float
    score: int | None
    machine_score: int | None
    confidence: float
    evidence: tuple[int, ...]
    notes: tuple[str, ...]
    overridden: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "weight": self.weight,
            "score": self.score,
            "machine_score": self.machine_score,
            "confidence": round(self.confidence, 3),
            "evidence": list(self.evidence),
            "notes": list(self.notes),
            "overridden": self.overridden,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QuestionScore:
        return cls(
            id=str(data["id"]),
            text=str(data["text"]),
            weight=float(data["weight"]),
            score=None if data["score"] is None else int(data["score"]),
            machine_score=None if data["machine_score"] is None else int(data["machine_score"]),
            confidence=float(data["confidence"]),
            evidence=tuple(int(i) for i in data["evidence"]),
            notes=tuple(str(n) for n in data["notes"]),
            overridden=bool(data.get("overridden", False)),
        )


@dataclass(frozen=True)
class SectionScore:
    """A section's weighted score over its scored questions (None: none scored)."""

    id: str
    title: str
    weight: float
    score: float | None
    questions: tuple[QuestionScore, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "weight": self.weight,
            "score": self.score,
            "questions": [q.to_json() for q in self.questions],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SectionScore:
        return cls(
            id=str(data["id"]),
            title=str(data["title"]),
            weight=float(data["weight"]),
            score=None if data["score"] is None else float(data["score"]),
            questions=tuple(QuestionScore.from_json(q) for q in data["questions"]),
        )


@dataclass(frozen=True)
class Scorecard:
    """A call scored against one rubric: sections, and the weighted overall score over the
    sections that have one (None when no question found evidence)."""

    rubric: str
    version: str
    scale_min: int
    scale_max: int
    sections: tuple[SectionScore, ...]
    overall: float | None

    def questions(self) -> list[QuestionScore]:
        return [q for s in self.sections for q in s.questions]

    @property
    def unscored(self) -> int:
        """How many questions had not enough evidence (and no override)."""
        return sum(1 for q in self.questions() if q.score is None)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SCORECARD_FORMAT,
            "rubric": self.rubric,
            "version": self.version,
            "scale": [self.scale_min, self.scale_max],
            "overall": self.overall,
            "unscored": self.unscored,
            "sections": [s.to_json() for s in self.sections],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scorecard:
        scale = data["scale"]
        return cls(
            rubric=str(data["rubric"]),
            version=str(data["version"]),
            scale_min=int(scale[0]),
            scale_max=int(scale[1]),
            sections=tuple(SectionScore.from_json(s) for s in data["sections"]),
            overall=None if data["overall"] is None else float(data["overall"]),
        )


# -- the facts a rule reads --------------------------------------------------------------


class _Call:
    """The transcript and insights of one call, indexed for the rules."""

    def __init__(self, transcript: Transcript, insights: Mapping[str, Any]) -> None:
        self.transcript = transcript
        self.insights = insights
        metrics = insights.get("metrics")
        self.metrics: Mapping[str, Any] = metrics if isinstance(metrics, Mapping) else {}
        speakers = self.metrics.get("speakers")
        self.speakers: list[Mapping[str, Any]] = [
            s for s in (speakers if isinstance(speakers, list) else []) if isinstance(s, Mapping)
        ]
        self.roles = {str(s.get("speaker")): str(s.get("role")) for s in self.speakers}
        ends = [u.end for u in transcript.utterances]
        duration = self.metrics.get("duration")
        self.duration = (
            float(duration) if isinstance(duration, int | float) else max(ends, default=0.0)
        )

    def role(self, index: int) -> str:
        return self.roles.get(self.transcript.utterances[index].speaker, "speaker")

    def asr(self, indices: Sequence[int]) -> float:
        """`0.5 + 0.5 * mean ASR confidence` of those utterances (1.0 for none)."""
        utterances = self.transcript.utterances
        values = [utterances[i].confidence for i in indices if 0 <= i < len(utterances)]
        if not values:
            return 1.0
        return 0.5 + 0.5 * min(1.0, max(0.0, sum(values) / len(values)))

    def speaker_of_role(self, role: str) -> Mapping[str, Any] | None:
        """The speaker of `role` who talked longest (metrics stage), or None."""
        found = [s for s in self.speakers if s.get("role") == role]
        if not found:
            return None
        return max(found, key=lambda s: float(s.get("talk_time") or 0.0))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _confidence(value: Any, default: float = 0.9) -> float:
    number = _number(value)
    return default if number is None else min(1.0, max(0.0, number))


def _indices(values: Any) -> tuple[int, ...]:
    if not isinstance(values, list):
        return ()
    return tuple(sorted({int(v) for v in values if isinstance(v, int) and not isinstance(v, bool)}))


# -- one outcome per rule ----------------------------------------------------------------


def _present_or_absent(
    rule: TrackerRule | PhraseRule | ComplianceRule,
    holds: bool,
    sure: float,
    evidence: tuple[int, ...],
    absent_basis: float,
    note: str,
) -> _Outcome | str:
    if holds:
        if rule.found is None:
            return f"{note}; no score for found"
        return _Outcome(rule.found, sure, evidence, rule.weight, note)
    if rule.missing is None:
        return f"{note}; no score for missing"
    return _Outcome(rule.missing, absent_basis, evidence, rule.weight, note)


def _phrase(rule: PhraseRule, call: _Call) -> _Outcome | str:
    utterances = call.transcript.utterances
    spoken = [i for i in range(len(utterances)) if rule.role == "any" or call.role(i) == rule.role]
    if not spoken:
        return f"phrase ({rule.role}): that role never speaks, or is not known"
    if rule.within_first is not None:
        window = f", first {rule.within_first:g} s"
        cutoff = rule.within_first
        candidates = [i for i in spoken if utterances[i].start < cutoff]
    elif rule.within_last is not None:
        window = f", last {rule.within_last:g} s"
        begin = call.duration - rule.within_last
        candidates = [i for i in spoken if utterances[i].end > begin]
    else:
        window, candidates = "", spoken
    patterns = [(p, tuple(words_of(p))) for p in rule.phrases]
    hits: list[tuple[int, float]] = []
    for i in candidates:
        tokens = tokens_of(utterances[i])
        found = [
            conf
            for _, at, conf in matches(patterns, tokens)
            # The phrase itself, not only its utterance, within the window.
            if (rule.within_first is None or tokens[at].start < rule.within_first)
            and (rule.within_last is None or tokens[at].start >= call.duration - rule.within_last)
        ]
        if found:
            hits.append((i, max(found)))
    evidence = tuple(i for i, _ in hits)
    holds = len(hits) >= rule.min
    sure = (sum(c for _, c in hits) / len(hits) if hits else 1.0) * call.asr(evidence)
    basis = ABSENT * call.asr(candidates or spoken)
    note = f"phrase ({rule.role}{window}): {len(hits)} utterance(s) matched, {rule.min} needed"
    return _present_or_absent(rule, holds, sure, evidence, basis, note)


def _tracker(rule: TrackerRule, call: _Call) -> _Outcome | str:
    trackers = call.insights.get("trackers")
    if not isinstance(trackers, Mapping) or not isinstance(trackers.get("hits"), list):
        return f"tracker {rule.tracker}: the insights have no trackers section"
    hits = [
        h for h in trackers["hits"] if isinstance(h, Mapping) and h.get("tracker") == rule.tracker
    ]
    evidence = tuple(sorted({i for h in hits for i in _indices(h.get("utterances"))}))
    holds = len(hits) >= rule.min
    mean = sum(_confidence(h.get("confidence")) for h in hits) / len(hits) if hits else 1.0
    basis = ABSENT * call.asr(range(len(call.transcript.utterances)))
    note = f"tracker {rule.tracker}: {len(hits)} hit(s), {rule.min} needed"
    return _present_or_absent(rule, holds, mean * call.asr(evidence), evidence, basis, note)


def _compliance(rule: ComplianceRule, call: _Call) -> _Outcome | str:
    trackers = call.insights.get("trackers")
    compliance = trackers.get("compliance") if isinstance(trackers, Mapping) else None
    checks = compliance.get("checks") if isinstance(compliance, Mapping) else None
    if not isinstance(checks, list):
        return f"compliance {rule.check}: the insights have no compliance checks"
    check = next(
        (c for c in checks if isinstance(c, Mapping) and c.get("name") == rule.check), None
    )
    if check is None or not isinstance(check.get("passed"), bool):
        return f"compliance {rule.check}: not checked on this call"
    hits = check.get("hits")
    evidence = set(_indices(check.get("utterances")))
    for hit in hits if isinstance(hits, list) else []:
        if isinstance(hit, Mapping):
            evidence |= set(_indices(hit.get("utterances")))
    ordered = tuple(sorted(evidence))
    sure = _confidence(check.get("confidence")) * call.asr(ordered)
    passed = bool(check["passed"])
    note = f"compliance {rule.check}: {'passed' if passed else 'failed'}"
    return _present_or_absent(rule, passed, sure, ordered, sure, note)


def _metric_value(rule: MetricRule, call: _Call) -> tuple[float, tuple[int, ...], float] | None:
    """(value, evidence utterances, the stage's confidence), or None."""
    role, dot, field = rule.metric.partition(".")
    if not dot:
        value = _number(call.metrics.get(rule.metric))
        sure = _confidence(call.metrics.get("confidence"))
        return None if value is None else (value, (), sure)
    speaker = call.speaker_of_role(role)
    if speaker is None:
        return None
    sure = _confidence(speaker.get("confidence"))
    if field == "longest_monologue":
        monologue = speaker.get("longest_monologue")
        if not isinstance(monologue, Mapping):
            return (0.0, (), sure)  # spoke, but never at length
        value = _number(monologue.get("duration"))
        evidence = _indices(monologue.get("utterances"))
    elif field == "interruptions":
        listed = speaker.get("interruptions")
        items = [i for i in listed if isinstance(i, Mapping)] if isinstance(listed, list) else []
        value = _number(speaker.get("interruption_count"))
        value = float(len(items)) if value is None else value
        evidence = tuple(
            sorted({int(i["utterance"]) for i in items if isinstance(i.get("utterance"), int)})
        )
    else:
        value = _number(speaker.get(field))
        evidence = ()
    return None if value is None else (value, evidence, sure)


def _metric(rule: MetricRule, call: _Call) -> _Outcome | str:
    found = _metric_value(rule, call)
    if found is None:
        return f"metric {rule.metric}: no value on this call"
    value, evidence, sure = found
    band = next((b for b in rule.bands if b.low <= value < b.high), None)
    if band is None:
        return f"metric {rule.metric} = {value:.3g}: outside every band"
    # Edges where the score changes, and how near the value is to the nearest of them.
    edges = [
        a.high
        for a, b in zip(rule.bands, rule.bands[1:], strict=False)
        if a.high == b.low and a.score != b.score
    ]
    factor = 1.0
    if edges:
        edge = min(edges, key=lambda e: abs(value - e))
        margin = rule.margin if rule.margin is not None else max(abs(edge) * 0.1, 1e-6)
        factor = 0.5 + 0.5 * min(1.0, abs(value - edge) / margin)
    note = f"metric {rule.metric} = {value:.3g}: band [{band.low:g}, {band.high:g})"
    return _Outcome(band.score, sure * factor * call.asr(evidence), evidence, rule.weight, note)


def _outcome(rule: Rule, call: _Call) -> _Outcome | str:
    if isinstance(rule, PhraseRule):
        return _phrase(rule, call)
    if isinstance(rule, TrackerRule):
        return _tracker(rule, call)
    if isinstance(rule, ComplianceRule):
        return _compliance(rule, call)
    return _metric(rule, call)


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def _question(question: Question, call: _Call, rubric: Rubric) -> QuestionScore:
    outcomes: list[_Outcome] = []
    notes: list[str] = []
    for rule in question.rules:
        outcome = _outcome(rule, call)
        if isinstance(outcome, str):
            notes.append(outcome)
        else:
            outcomes.append(outcome)
            notes.append(outcome.note)
    if not outcomes:
        return QuestionScore(
            question.id, question.text, question.weight, None, None, 0.0, (), tuple(notes)
        )
    total = sum(o.weight for o in outcomes)
    mean = sum(o.score * o.weight for o in outcomes) / total
    score = min(rubric.scale_max, max(rubric.scale_min, _round_half_up(mean)))
    confidence = sum(o.confidence * o.weight for o in outcomes) / total
    spread = max(o.score for o in outcomes) - min(o.score for o in outcomes)
    if spread * 2 > rubric.scale_max - rubric.scale_min:
        confidence *= 0.8  # the rules disagree
    evidence = tuple(sorted({i for o in outcomes for i in o.utterances}))
    return QuestionScore(
        question.id,
        question.text,
        question.weight,
        score,
        score,
        min(1.0, max(0.0, confidence)),
        evidence,
        tuple(notes),
    )


def _weighted(pairs: Sequence[tuple[float | None, float]]) -> float | None:
    scored = [(s, w) for s, w in pairs if s is not None and w > 0]
    total = sum(w for _, w in scored)
    if not scored or total <= 0:
        return None
    return round(sum(s * w for s, w in scored) / total, 2)


def _totals(card: Scorecard) -> Scorecard:
    sections = tuple(
        replace(s, score=_weighted([(q.score, q.weight) for q in s.questions]))
        for s in card.sections
    )
    return replace(
        card, sections=sections, overall=_weighted([(s.score, s.weight) for s in sections])
    )


def score_call(rubric: Rubric, transcript: Transcript, insights: Mapping[str, Any]) -> Scorecard:
    """Score one call: `insights` is the stored insights document's `insights` object
    (docs/json.md), `transcript` the call's transcript."""
    call = _Call(transcript, insights)
    sections = tuple(
        SectionScore(
            section.id,
            section.title,
            section.weight,
            None,
            tuple(_question(q, call, rubric) for q in section.questions),
        )
        for section in rubric.sections
    )
    card = Scorecard(
        rubric.name, rubric.version, rubric.scale_min, rubric.scale_max, sections, None
    )
    return _totals(card)


def with_overrides(card: Scorecard, overrides: Mapping[str, int]) -> Scorecard:
    """The scorecard with reviewers' scores (question id -> score) in place of the rules',
    and the section and overall scores weighted again; ids it has no question for are
    left out (the caller lists them)."""
    sections = tuple(
        replace(
            s,
            questions=tuple(
                replace(q, score=overrides[q.id], overridden=True) if q.id in overrides else q
                for q in s.questions
            ),
        )
        for s in card.sections
    )
    return _totals(replace(card, sections=sections))
