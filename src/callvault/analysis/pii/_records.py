"""The records of PII detection: entity names, one finding, and the detector's parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ADDRESS",
    "CARD_EXPIRY",
    "CREDIT_CARD",
    "CVV",
    "DATE_OF_BIRTH",
    "EMAIL",
    "ENTITIES",
    "IBAN",
    "PAYMENT_ENTITIES",
    "PERSON",
    "PHONE",
    "US_SSN",
    "PiiFinding",
    "PiiParams",
    "placeholder",
]

CREDIT_CARD = "CREDIT_CARD"
CVV = "CVV"
CARD_EXPIRY = "CARD_EXPIRY"
US_SSN = "US_SSN"
IBAN = "IBAN"
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
    US_SSN,
    IBAN,
    EMAIL,
    PHONE,
    DATE_OF_BIRTH,
    PERSON,
    ADDRESS,
)
PAYMENT_ENTITIES = frozenset({CREDIT_CARD, CVV, CARD_EXPIRY})


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
    is never kept: a finding says where, not what.
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
        }


@dataclass(frozen=True)
class PiiParams:
    """How `PiiDetector` runs.

    `language` overrides the transcript's language ("en", "de"; None: use the transcript's).
    `use_presidio` runs presidio (English only) besides the spoken-form recognizers.
    `context_seconds`: how far back context words ("card number") count.
    `join_gap`: utterances of one speaker at most this far apart (seconds) are read as one
    stretch, so a number split by a pause is found whole.
    `asked_for`: redact the whole answer to a question for personal data in which
    nothing of the kind asked for was found (`_asked`; fail closed).
    """

    entities: tuple[str, ...] = ENTITIES
    language: str | None = None
    use_presidio: bool = True
    score_threshold: float = 0.5
    context_seconds: float = 30.0
    join_gap: float = 5.0
    asked_for: bool = True

    def __post_init__(self) -> None:
        unknown = [e for e in self.entities if e not in ENTITIES]
        if unknown:
            raise ValueError(f"unknown PII entities {unknown}; known: {', '.join(ENTITIES)}")
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError("score_threshold must be within 0..1")
        if self.context_seconds < 0 or self.join_gap < 0:
            raise ValueError("context_seconds and join_gap must not be negative")

    def to_json(self) -> dict[str, Any]:
        return {
            "entities": list(self.entities),
            "language": self.language,
            "use_presidio": self.use_presidio,
            "score_threshold": self.score_threshold,
            "context_seconds": self.context_seconds,
            "join_gap": self.join_gap,
            "asked_for": self.asked_for,
        }
