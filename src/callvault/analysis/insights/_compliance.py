"""Compliance checks over a transcript: "disclosure" (a recording disclosure said by
the agent early enough) and "prohibited" (phrases the agent must not say). The method is
in `_trackers`' module docstring; the matching in `_matching`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from callvault.analysis._data import read_words
from callvault.analysis._records import Transcript
from callvault.analysis.insights._matching import (
    EXACT,
    Token,
    fuzzy_find,
    matches,
    phrases_for,
    roles_known,
    rounded,
    tokens_of,
)
from callvault.analysis.insights._records import AGENT, CallFacts, StageStamp
from callvault.errors import ConfigError

__all__ = [
    "COMPLIANCE_STAGE",
    "DEFAULT_DISCLOSURE",
    "DEFAULT_PROHIBITED",
    "ComplianceCheck",
    "ComplianceHit",
    "ComplianceParams",
    "ComplianceResult",
    "check_compliance",
    "run_compliance",
]

COMPLIANCE_STAGE = "compliance"
COMPLIANCE_VERSION = "4"  # 2: German disclosures with words between; 4: more wordings

_r = rounded


@dataclass(frozen=True)
class ComplianceHit:
    """One place a prohibited phrase was said."""

    phrase: str
    time: float
    speaker: str
    role: str
    confidence: float
    utterances: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "phrase": self.phrase,
            "time": _r(self.time),
            "speaker": self.speaker,
            "role": self.role,
            "confidence": _r(self.confidence),
            "utterances": list(self.utterances),
        }


@dataclass(frozen=True)
class ComplianceCheck:
    """The outcome of one compliance check ("disclosure" or "prohibited").

    For "disclosure", `time` and `utterances` say where the disclosure was found (also
    when it came too late); `reason` says why a failed check failed.
    """

    name: str
    passed: bool
    time: float | None
    reason: str | None
    confidence: float
    utterances: tuple[int, ...]
    hits: tuple[ComplianceHit, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "time": _r(self.time),
            "reason": self.reason,
            "confidence": _r(self.confidence),
            "utterances": list(self.utterances),
            "hits": [hit.to_json() for hit in self.hits],
        }


@dataclass(frozen=True)
class ComplianceResult:
    checks: tuple[ComplianceCheck, ...]
    stamp: StageStamp

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def check(self, name: str) -> ComplianceCheck:
        for item in self.checks:
            if item.name == name:
                return item
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "checks": [check.to_json() for check in self.checks],
            "stamp": self.stamp.to_json(),
        }


# --- parameters ------------------------------------------------------------------------

_PHRASES = read_words("callvault.analysis.insights", "trackers.toml")
# A recording word near the thing recorded (the call, the conversation, calls to a line),
# with room for "may be", "will be", "is being" and the like between (data/trackers.toml).
DEFAULT_DISCLOSURE: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {language: tuple(items) for language, items in _PHRASES["disclosure"].items()}
)
DEFAULT_PROHIBITED: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {language: tuple(items) for language, items in _PHRASES["prohibited"].items()}
)


@dataclass(frozen=True)
class ComplianceParams:
    disclosure_phrases: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: DEFAULT_DISCLOSURE
    )
    disclosure_within_s: float = 30.0
    prohibited_phrases: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: DEFAULT_PROHIBITED
    )

    def validate(self) -> None:
        if self.disclosure_within_s <= 0:
            raise ConfigError("compliance: disclosure_within_s must be more than 0 seconds")
        if not any(self.disclosure_phrases.values()):
            raise ConfigError("compliance: no disclosure phrases; give at least one")

    @property
    def stamp(self) -> StageStamp:
        return StageStamp(
            COMPLIANCE_STAGE,
            COMPLIANCE_VERSION,
            {
                "disclosure_phrases": {
                    k: list(v) for k, v in sorted(self.disclosure_phrases.items())
                },
                "disclosure_within_s": self.disclosure_within_s,
                "prohibited_phrases": {
                    k: list(v) for k, v in sorted(self.prohibited_phrases.items())
                },
            },
        )


def check_compliance(
    transcript: Transcript, facts: CallFacts, params: ComplianceParams
) -> ComplianceResult:
    """The "disclosure" and "prohibited" checks alone (stamp "compliance")."""
    params.validate()
    return run_compliance(transcript, facts, params, [tokens_of(u) for u in transcript.utterances])


def run_compliance(
    transcript: Transcript,
    facts: CallFacts,
    params: ComplianceParams,
    tokens: list[list[Token]],
) -> ComplianceResult:
    language = transcript.language or facts.language
    agent_known = roles_known(facts, AGENT)
    return ComplianceResult(
        checks=(
            _disclosure(transcript, facts, params, tokens, language, agent_known),
            _prohibited(transcript, facts, params, tokens, language, agent_known),
        ),
        stamp=params.stamp,
    )


def _disclosure(
    transcript: Transcript,
    facts: CallFacts,
    params: ComplianceParams,
    tokens: list[list[Token]],
    language: str | None,
    agent_known: bool,
) -> ComplianceCheck:
    patterns = phrases_for(params.disclosure_phrases, language)
    first: tuple[float, int, float] | None = None  # time, utterance, match confidence
    for index, utterance in enumerate(transcript.utterances):
        if agent_known and facts.role_of(utterance.speaker) != AGENT:
            continue
        for _, pattern in patterns:
            found = fuzzy_find(pattern, tokens[index])
            if found is None:
                continue
            time = tokens[index][found[0]].start
            if first is None or time < first[0]:
                first = (time, index, found[1])
    limit = params.disclosure_within_s
    note = "" if agent_known else " (no agent known: any speaker counted)"
    if first is None:
        return ComplianceCheck(
            "disclosure", False, None, "not said" + note, 0.8 if agent_known else 0.5, ()
        )
    time, index, match = first
    confidence = (1.0 if match == EXACT else 0.9) if agent_known else 0.5
    reason: str | None
    if time > limit:
        reason = f"said at {time:.1f} s, after {limit:g} s" + note
        return ComplianceCheck("disclosure", False, time, reason, confidence, (index,))
    reason = None if agent_known else note.strip(" ()")
    return ComplianceCheck("disclosure", True, time, reason, confidence, (index,))


def _prohibited(
    transcript: Transcript,
    facts: CallFacts,
    params: ComplianceParams,
    tokens: list[list[Token]],
    language: str | None,
    agent_known: bool,
) -> ComplianceCheck:
    patterns = phrases_for(params.prohibited_phrases, language)
    found: list[ComplianceHit] = []
    for index, utterance in enumerate(transcript.utterances):
        role = facts.role_of(utterance.speaker)
        if agent_known and role != AGENT:
            continue
        for phrase, at, confidence in matches(patterns, tokens[index]):
            found.append(
                ComplianceHit(
                    phrase=phrase,
                    time=tokens[index][at].start,
                    speaker=utterance.speaker,
                    role=role,
                    confidence=confidence if agent_known else 0.5,
                    utterances=(index,),
                )
            )
    hits = tuple(found)
    note = None if agent_known else "no agent known: any speaker counted"
    utterances = tuple(sorted({hit.utterances[0] for hit in hits}))
    return ComplianceCheck(
        "prohibited",
        passed=not hits,
        time=hits[0].time if hits else None,
        reason=(f"{len(hits)} prohibited phrase(s) said" if hits else note),
        confidence=(min(h.confidence for h in hits) if hits else (0.9 if agent_known else 0.5)),
        utterances=utterances,
        hits=hits,
    )
