"""What the speech pipeline returns: words, utterances and the transcript of one recording.

A transcript is stored encrypted as JSON (`to_json` / `from_json`). Floats are written
with Python's shortest round-trip repr, so a stored transcript reads back equal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from callvault.errors import IntegrityError

__all__ = ["TRANSCRIPT_FORMAT", "Transcript", "TranscriptStatus", "Utterance", "Word"]

# Version of the JSON layout below; bump it when the layout changes.
TRANSCRIPT_FORMAT = 1

TranscriptStatus = Literal["done", "no_speech"]


@dataclass(frozen=True)
class Word:
    """One recognised word; times in seconds from the start of the recording."""

    start: float
    end: float
    text: str
    confidence: float  # the recogniser's probability for the word, 0..1


@dataclass(frozen=True)
class Utterance:
    """A stretch of speech by one speaker.

    `channel` is the leg the speech came from when each channel carries one party, and
    None for a mixed (mono) recording.
    """

    speaker: str
    channel: int | None
    start: float
    end: float
    text: str
    confidence: float  # mean word probability, 0..1
    words: tuple[Word, ...]


@dataclass(frozen=True)
class Transcript:
    """The transcript of one recording.

    `status` is "no_speech" when nothing was recognised (then `utterances` is empty);
    `diarized` says whether utterances are attributed to distinct speakers; `screened`
    counts the words the hallucination screen removed, by rule (empty when none).
    """

    status: TranscriptStatus
    language: str | None
    model_name: str
    model_version: str
    utterances: tuple[Utterance, ...]
    diarized: bool
    screened: dict[str, int] = field(default_factory=dict, compare=False)

    def to_json(self) -> str:
        """Compact JSON; each word is written as `[start, end, text, confidence]`."""
        data: dict[str, Any] = {
            "format": TRANSCRIPT_FORMAT,
            "status": self.status,
            "language": self.language,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "diarized": self.diarized,
            "utterances": [
                {
                    "speaker": u.speaker,
                    "channel": u.channel,
                    "start": u.start,
                    "end": u.end,
                    "text": u.text,
                    "confidence": u.confidence,
                    "words": [[w.start, w.end, w.text, w.confidence] for w in u.words],
                }
                for u in self.utterances
            ],
        }
        if self.screened:
            data["screened"] = dict(self.screened)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str | bytes) -> Transcript:
        """Read what `to_json` wrote; raises `IntegrityError` naming the bad field."""
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise IntegrityError("stored transcript is not valid JSON") from None
        try:
            return _transcript_from_dict(raw)
        except KeyError as exc:
            message = f"stored transcript is malformed: field {exc} is missing"
            raise IntegrityError(message) from None
        except (TypeError, ValueError, IndexError) as exc:
            raise IntegrityError(f"stored transcript is malformed: {exc}") from None


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{field} must be a number")
    return float(value)


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string")
    return value


def _transcript_from_dict(raw: Any) -> Transcript:
    if not isinstance(raw, dict):
        raise ValueError("top level must be an object")
    if raw.get("format") != TRANSCRIPT_FORMAT:
        raise ValueError(f"format {raw.get('format')!r} is not {TRANSCRIPT_FORMAT}")
    status = raw["status"]
    if status not in ("done", "no_speech"):
        raise ValueError(f"status {status!r} is not 'done' or 'no_speech'")
    language = raw["language"]
    if language is not None:
        language = _text(language, "language")
    diarized = raw["diarized"]
    if not isinstance(diarized, bool):
        raise ValueError("diarized must be true or false")
    utterances = []
    for item in raw["utterances"]:
        channel = item["channel"]
        if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int)):
            raise ValueError("channel must be an integer or null")
        words = tuple(
            Word(
                start=_number(w[0], "word start"),
                end=_number(w[1], "word end"),
                text=_text(w[2], "word text"),
                confidence=_number(w[3], "word confidence"),
            )
            for w in item["words"]
        )
        utterances.append(
            Utterance(
                speaker=_text(item["speaker"], "speaker"),
                channel=channel,
                start=_number(item["start"], "start"),
                end=_number(item["end"], "end"),
                text=_text(item["text"], "text"),
                confidence=_number(item["confidence"], "confidence"),
                words=words,
            )
        )
    return Transcript(
        status=status,
        language=language,
        model_name=_text(raw["model_name"], "model_name"),
        model_version=_text(raw["model_version"], "model_version"),
        utterances=tuple(utterances),
        diarized=diarized,
        screened=_screened(raw.get("screened", {})),
    )


def _screened(value: Any) -> dict[str, int]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(n, int) and not isinstance(n, bool)
        for k, n in value.items()
    ):
        raise ValueError("screened must be an object of counts")
    return dict(value)
