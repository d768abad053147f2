"""Use case: score a call against a rubric, read its scorecard, let a reviewer override a
score (issue 22).

A scorecard is derived from the call's transcript and its insights (with the users'
insight corrections applied) by the pure `analysis.scorecards.score_call`, and stored
as an encrypted artifact of the recording (kind "scorecard"): each question's score,
confidence and the indices of the utterances that justify it, never their text. A
reader gets the words from the transcript at display time (`read_scorecard`), through
the vault's audited reads.

A reviewer's override is an insight correction (`Vault.correct_insight`, the same
encrypted history: old and new value, who, why, when) of section "scorecard", anchored
to the rubric's name and the question's id (`scorecard/RUBRIC:QUESTION/score`), so it
is applied again to a new scorecard of the same rubric after a re-score or a re-run of
the stages. A rewrite of the audio (redaction, erasure of a leg) drops the stored
scorecard with the transcript it came from; scoring again makes a new one.

After processing, `score_processed` scores the call with CALLVAULT_SCORECARD_RUBRIC
(`default`, `off` or a file); `check_rubric` loads it when the workers start, so a
bad rubric stops them (fail closed) instead of failing every job.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callvault.analysis import Transcript
from callvault.analysis.scorecards import (
    Rubric,
    Scorecard,
    default_rubric,
    load_rubric,
    with_overrides,
)
from callvault.analysis.scorecards import score_call as score_transcript
from callvault.config import Config
from callvault.errors import InputError, NotFound
from callvault.services._context import Context
from callvault.services.insight_corrections import apply_corrections
from callvault.vault import CorrectionRecord

__all__ = [
    "SCORECARD_KIND",
    "CallScorecard",
    "EvidenceLine",
    "ScoreOverride",
    "check_rubric",
    "check_rubric_file",
    "override_score",
    "read_scorecard",
    "rubric_for",
    "score_call",
    "score_processed",
]

log = logging.getLogger("callvault.services")

SCORECARD_KIND = "scorecard"
_SECTION = "scorecard"  # the insight-correction section of a reviewer's override
_SNIPPET = 240  # characters of an utterance shown as evidence


@dataclass(frozen=True)
class EvidenceLine:
    """An utterance a score rests on, as the transcript has it now (read at display)."""

    utterance: int
    start: float
    end: float
    speaker: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return {
            "utterance": self.utterance,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "speaker": self.speaker,
            "text": self.text,
        }


@dataclass(frozen=True)
class ScoreOverride:
    """One reviewer's override of a question's score, in the corrections' history."""

    id: str
    question: str
    old: int | None
    new: int
    actor: str
    reason: str
    created_at: datetime
    applied: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "old": self.old,
            "new": self.new,
            "actor": self.actor,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "applied": self.applied,
        }


@dataclass(frozen=True)
class CallScorecard:
    """A call's scorecard with the reviewers' overrides applied, the override history of
    its rubric (oldest first), and the evidence utterances (when asked for)."""

    call_id: str
    scorecard: Scorecard
    scored_at: str | None
    history: tuple[ScoreOverride, ...]
    evidence: Mapping[int, EvidenceLine]

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "scored_at": self.scored_at,
            **self.scorecard.to_json(),
            "evidence": [self.evidence[i].to_json() for i in sorted(self.evidence)],
            "history": [h.to_json() for h in self.history],
        }


# -- rubrics -------------------------------------------------------------------------------


def rubric_for(config: Config) -> Rubric | None:
    """The rubric CALLVAULT_SCORECARD_RUBRIC names; None when it is `off`."""
    setting = config.scorecard_rubric
    if setting == "off":
        return None
    if setting == "default":
        return default_rubric()
    return load_rubric(Path(setting))


def check_rubric(config: Config) -> None:
    """Load the configured rubric (a ConfigError naming the file and key when it is bad);
    what the workers do when they start."""
    rubric_for(config)


def check_rubric_file(path: Path) -> Rubric:
    """A rubric file, validated (`callvault scorecard check`)."""
    return load_rubric(path)


# -- scoring -----------------------------------------------------------------------------


def _insights_of(document: bytes) -> dict[str, Any]:
    insights = json.loads(document).get("insights")
    return insights if isinstance(insights, dict) else {}


def _corrected(
    ctx: Context, call_id: str, insights: dict[str, Any], actor: str | None, purpose: str | None
) -> tuple[dict[str, Any], list[CorrectionRecord]]:
    """The insights with the users' corrections applied, and those corrections (read,
    audited, only when the call has any)."""
    if not ctx.vault.corrections.correction_ids(call_id):
        return insights, []
    records = ctx.vault.corrections.corrections(call_id, actor=actor, purpose=purpose)
    corrected = apply_corrections(insights, records)
    return (corrected if corrected is not None else insights), records


def _store(ctx: Context, call_id: str, card: Scorecard, actor: str | None) -> str:
    scored_at = datetime.now(UTC).isoformat()
    document = json.dumps(
        {"scorecard": card.to_json(), "scored_at": scored_at},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    meta = {"rubric": card.rubric, "version": card.version, "format": 1}
    ctx.vault.artifacts.store_artifact(call_id, SCORECARD_KIND, document, meta, actor=actor)
    return scored_at


def score_call(
    ctx: Context,
    call_id: str,
    *,
    rubric: Path | None = None,
    purpose: str | None = "scorecard",
    actor: str | None = None,
) -> CallScorecard:
    """Score a call against `rubric` (a TOML file; default: the configured rubric, or the
    bundled one when scoring is off) and store the scorecard; returns it as
    `read_scorecard` would, with the evidence utterances."""
    chosen = load_rubric(rubric) if rubric is not None else rubric_for(ctx.config)
    chosen = chosen if chosen is not None else default_rubric()
    vault = ctx.vault
    document = vault.transcripts.read_transcript(call_id, actor=actor, purpose=purpose)
    insights_doc = vault.artifacts.read_insights(call_id, actor=actor, purpose=purpose)
    if document is None or insights_doc is None:
        raise InputError(
            f"call {call_id} has no transcript and insights yet; process it first "
            f"(`callvault process {call_id}`)"
        )
    transcript = Transcript.from_json(document)
    insights, records = _corrected(ctx, call_id, _insights_of(insights_doc), actor, purpose)
    card = score_transcript(chosen, transcript, insights)
    scored_at = _store(ctx, call_id, card, actor)
    log.info("scored call %s against rubric %s", call_id, card.rubric)
    return _view(call_id, card, scored_at, records, transcript)


def score_processed(ctx: Context, call_id: str, transcript: Transcript, document: bytes) -> bool:
    """After processing: score the call with the configured rubric from the transcript
    and insights just stored (no second read of them); False when scoring is off."""
    rubric = rubric_for(ctx.config)
    if rubric is None:
        return False
    insights, _ = _corrected(ctx, call_id, _insights_of(document), None, "transcription")
    _store(ctx, call_id, score_transcript(rubric, transcript, insights), None)
    return True


# -- reading and overriding ----------------------------------------------------------------


def _key(rubric: str, question: str) -> str:
    return f"{_SECTION}/{rubric}:{question}/score"


def _overrides(
    card: Scorecard, records: Sequence[CorrectionRecord]
) -> tuple[dict[str, int], tuple[ScoreOverride, ...]]:
    """Question id -> the latest override, and the history, for `card`'s rubric."""
    prefix = f"{_SECTION}/{card.rubric}:"
    ids = {q.id for q in card.questions()}
    scores: dict[str, int] = {}
    history: list[ScoreOverride] = []
    for record in records:
        if record.target != "insight" or not record.key.startswith(prefix):
            continue
        question = record.key[len(prefix) :].rpartition("/")[0]
        new = json.loads(record.new)
        old = json.loads(record.old) if record.old is not None else None
        if not isinstance(new, int):
            continue
        if question in ids and card.scale_min <= new <= card.scale_max:
            scores[question] = new
        history.append(
            ScoreOverride(
                id=record.id,
                question=question,
                old=old if isinstance(old, int) else None,
                new=new,
                actor=record.actor,
                reason=record.reason,
                created_at=record.created_at,
                applied=question in ids,
            )
        )
    return scores, tuple(history)


def _view(
    call_id: str,
    card: Scorecard,
    scored_at: str | None,
    records: Sequence[CorrectionRecord],
    transcript: Transcript | None,
) -> CallScorecard:
    scores, history = _overrides(card, records)
    evidence: dict[int, EvidenceLine] = {}
    if transcript is not None:
        utterances = transcript.utterances
        for question in card.questions():
            for i in question.evidence:
                if 0 <= i < len(utterances) and i not in evidence:
                    u = utterances[i]
                    text = u.text if len(u.text) <= _SNIPPET else u.text[: _SNIPPET - 1] + "…"
                    evidence[i] = EvidenceLine(i, u.start, u.end, u.speaker, text)
    return CallScorecard(call_id, with_overrides(card, scores), scored_at, history, evidence)


def _stored(
    ctx: Context, call_id: str, actor: str | None, purpose: str | None
) -> tuple[Scorecard, str | None]:
    document = ctx.vault.artifacts.read_artifact(
        call_id, SCORECARD_KIND, actor=actor, purpose=purpose
    )
    if document is None:
        raise NotFound(
            f"call {call_id} has no scorecard yet; score it (`callvault scorecard score {call_id}`)"
        )
    data = json.loads(document)
    return Scorecard.from_json(data["scorecard"]), data.get("scored_at")


def read_scorecard(
    ctx: Context,
    call_id: str,
    *,
    purpose: str | None = None,
    actor: str | None = None,
    evidence: bool = True,
) -> CallScorecard:
    """The call's stored scorecard with the reviewers' overrides applied and their
    history; with `evidence`, the utterances it cites, read from the transcript now.
    NotFound when the call was not scored. Every read is audited."""
    card, scored_at = _stored(ctx, call_id, actor, purpose)
    records = ctx.vault.corrections.corrections(call_id, actor=actor, purpose=purpose)
    transcript = None
    if evidence and any(q.evidence for q in card.questions()):
        document = ctx.vault.transcripts.read_transcript(call_id, actor=actor, purpose=purpose)
        transcript = Transcript.from_json(document) if document is not None else None
    return _view(call_id, card, scored_at, records, transcript)


def override_score(
    ctx: Context,
    call_id: str,
    question_id: str,
    score: int,
    *,
    reason: str,
    actor: str | None = None,
) -> ScoreOverride:
    """Override one question's score on the call's scorecard; kept with its history as
    an insight correction, and applied again after a re-score with the same rubric."""
    purpose = "scorecard override"
    current = read_scorecard(ctx, call_id, actor=actor, purpose=purpose, evidence=False)
    card = current.scorecard
    question = next((q for q in card.questions() if q.id == question_id), None)
    if question is None:
        ids = ", ".join(q.id for q in card.questions())
        raise InputError(f"rubric {card.rubric} has no question {question_id!r}; use one of {ids}")
    if isinstance(score, bool) or not card.scale_min <= score <= card.scale_max:
        raise InputError(
            f"score {score} is outside the scale {card.scale_min}..{card.scale_max} of "
            f"rubric {card.rubric}"
        )
    if question.score == score:
        raise InputError(f"question {question_id} already scores {score}; nothing to override")
    record = ctx.vault.artifacts.correct_insight(
        call_id,
        _key(card.rubric, question_id),
        {"value": json.dumps(question.score)},
        {"value": json.dumps(score)},
        reason,
        actor=actor,
    )
    return ScoreOverride(
        id=record.id,
        question=question_id,
        old=question.score,
        new=score,
        actor=record.actor,
        reason=record.reason,
        created_at=record.created_at,
        applied=True,
    )
