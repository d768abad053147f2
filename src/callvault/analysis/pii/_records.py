"""The records of PII detection: entity names, one finding, and the detector's parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ADDRESS",
    "ASKED_FOR",
    "CARD_EXPIRY",
    "CREDIT_CARD",
    "CVV",
    "DATE_OF_BIRTH",
    "EMAIL",
    "ENTITIES",
    "FAIL_CLOSED_ENTITIES",
    "IBAN",
    "NATIONAL_ID",
    "PASSWORD",
    "PAYMENT_ENTITIES",
    "PERSON",
    "PHONE",
    "PIN",
    "RECOGNISED",
    "US_SSN",
    "PiiFinding",
    "PiiParams",
    "placeholder",
]

CREDIT_CARD = "CREDIT_CARD"
CVV = "CVV"
CARD_EXPIRY = "CARD_EXPIRY"
PIN = "PIN"
US_SSN = "US_SSN"
NATIONAL_ID = "NATIONAL_ID"  # an identity card, passport, tax or social insurance number
IBAN = "IBAN"
PASSWORD = "PASSWORD"  # a password, passcode or memorable word
EMAIL = "EMAIL"
PHONE = "PHONE"
DATE_OF_BIRTH = "DATE_OF_BIRTH"
PERSON = "PERSON"
ADDRESS = "ADDRESS"

# Stable order, which is also the priority order when findings overlap: payment data first.
ENTITIES: tuple[str, ...] = (
    CREDIT_CARD,
    CVV,
    CARD_EXPIRY,
    PIN,
    US_SSN,
    NATIONAL_ID,
    IBAN,
    PASSWORD,
    EMAIL,
    PHONE,
    DATE_OF_BIRTH,
    PERSON,
    ADDRESS,
)
# Payment data: the unredacted original of a call in which any was cut is never kept.
PAYMENT_ENTITIES = frozenset({CREDIT_CARD, CVV, CARD_EXPIRY, PIN})
# What a request for it cuts the whole answer for, found or not (`_asked`).
FAIL_CLOSED_ENTITIES = frozenset(
    {CREDIT_CARD, CVV, CARD_EXPIRY, PIN, US_SSN, NATIONAL_ID, IBAN, DATE_OF_BIRTH, PASSWORD}
)

# Why a finding was cut: recognised in the words, or the answer to a request for it.
RECOGNISED = "recognised"
ASKED_FOR = "asked-for"


def placeholder(entity: str) -> str:
    """The word that stands for a redacted `entity` in a transcript: "[CREDIT_CARD]"."""
    if entity not in ENTITIES:
        raise ValueError(f"unknown PII entity {entity!r}; known: {', '.join(ENTITIES)}")
    return f"[{entity}]"


@dataclass(frozen=True)
class PiiFinding:
    """Personal data in words `first_word..last_word` (inclusive) of one utterance.

    `start`/`end` are the times of those words (what the audio redaction mutes). A finding
    read across two utterances is reported as one finding per utterance. The matched text
    is never kept: a finding says where, not what. `reason`: `RECOGNISED` (a recognizer
    found it in the words), or `ASKED_FOR` (the words answer a request for `entity`, and
    are cut whatever the recogniser made of them).
    """

    entity: str
    utterance: int
    first_word: int
    last_word: int
    start: float
    end: float
    channel: int | None
    speaker: str
    confidence: float
    recognizer: str
    reason: str = RECOGNISED

    @property
    def payment(self) -> bool:
        return self.entity in PAYMENT_ENTITIES

    @property
    def utterances(self) -> tuple[int, ...]:
        return (self.utterance,)

    def to_json(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "utterance": self.utterance,
            "words": [self.first_word, self.last_word],
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "channel": self.channel,
            "speaker": self.speaker,
            "confidence": round(self.confidence, 3),
            "recognizer": self.recognizer,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PiiFinding:
        """A finding as `to_json` wrote it (one stored before `reason` existed: recognised)."""
        first, last = data["words"]
        return cls(
            entity=data["entity"],
            utterance=int(data["utterance"]),
            first_word=int(first),
            last_word=int(last),
            start=float(data["start"]),
            end=float(data["end"]),
            channel=data.get("channel"),
            speaker=data["speaker"],
            confidence=float(data["confidence"]),
            recognizer=data["recognizer"],
            reason=data.get("reason") or RECOGNISED,
        )


@dataclass(frozen=True)
class PiiParams:
    """How `PiiDetector` runs.

    `language` overrides the transcript's language ("en", "de"; None: use the transcript's).
    `use_presidio` runs presidio (English only) besides the spoken-form recognizers.
    `context_seconds`: how far back context words ("card number") count.
    `join_gap`: utterances of one speaker at most this far apart (seconds) are read as one
    stretch, so a number split by a pause is found whole.
    `asked_for`: redact the answer to a request for personal data (`_asked`; fail
    closed): for payment and identity data (`FAIL_CLOSED_ENTITIES`) the other party's
    words from the request's end until the asker speaks again, at most `answer_window_s`
    seconds, whatever was recognised in them; for an e-mail address or a phone number the
    answer in which nothing of the kind was found.
    """

    entities: tuple[str, ...] = ENTITIES
    language: str | None = None
    use_presidio: bool = True
    score_threshold: float = 0.5
    context_seconds: float = 30.0
    join_gap: float = 5.0
    asked_for: bool = True
    answer_window_s: float = 20.0

    def __post_init__(self) -> None:
        unknown = [e for e in self.entities if e not in ENTITIES]
        if unknown:
            raise ValueError(f"unknown PII entities {unknown}; known: {', '.join(ENTITIES)}")
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError("score_threshold must be within 0..1")
        if self.context_seconds < 0 or self.join_gap < 0:
            raise ValueError("context_seconds and join_gap must not be negative")
        if self.answer_window_s <= 0:
            raise ValueError("answer_window_s must be greater than zero")

    def to_json(self) -> dict[str, Any]:
        return {
            "entities": list(self.entities),
            "language": self.language,
            "use_presidio": self.use_presidio,
            "score_threshold": self.score_threshold,
            "context_seconds": self.context_seconds,
            "join_gap": self.join_gap,
            "asked_for": self.asked_for,
            "answer_window_s": self.answer_window_s,
        }
