"""What the live (streaming) side of the analysis produces while a call is going on.

Times are seconds of call time: from the start of the call (the first sample of its
legs), the same clock the batch transcript uses. A leg is a channel number (0, 1, ...)
with an optional role ("agent", "customer") that the caller of the engine knows.

* `LiveWord`: a recognised word of one leg.
* `WordsUpdate`: what one step of a leg's streaming transcriber gives: the words that
  became final (never revised again) and the current partial tail (may still change).
* `SpeechSpan`: a stretch of speech the VAD found on a leg (`end` None while it goes on).
* `Alert`: a rule that fired, with the words that triggered it.
* `LiveEvent`: one line of `callvault monitor replay --json` and one item on the live
  board: a partial, a final or an alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Alert", "EventKind", "LiveEvent", "LiveWord", "SpeechSpan", "WordsUpdate"]

EventKind = Literal["partial", "final", "alert"]


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


@dataclass(frozen=True)
class LiveWord:
    """One recognised word of a leg; times in call time."""

    start: float
    end: float
    text: str
    confidence: float

    def to_json(self) -> dict[str, Any]:
        return {
            "start": _r(self.start),
            "end": _r(self.end),
            "text": self.text,
            "confidence": _r(self.confidence),
        }


@dataclass(frozen=True)
class WordsUpdate:
    """One step of a leg's transcriber: `final` words are committed for good (in order,
    after every earlier final word of the leg); `partial` is the current uncommitted
    tail, which the next update replaces."""

    channel: int
    final: tuple[LiveWord, ...] = ()
    partial: tuple[LiveWord, ...] = ()
    language: str | None = None


@dataclass(frozen=True)
class SpeechSpan:
    """Speech found by the VAD on a leg, from `start` to `end` (None: still speaking)."""

    channel: int
    start: float
    end: float | None


@dataclass(frozen=True)
class Alert:
    """A rule that fired on a leg at `call_time` (the end of the triggering words, or
    the moment a timer rule such as silence or a missing disclosure ran out)."""

    rule: str  # the rule's name, e.g. "card-data", "competitor", or a user rule's name
    kind: str  # what the rule checks: "phrase", "disclosure", "pii", "sentiment", ...
    channel: int | None
    call_time: float
    start: float  # where the triggering words (or the silence, ...) began
    text: str  # the triggering words (masked for card and identity data)
    confidence: float
    severity: str = "warning"  # "info", "warning" or "critical"
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "kind": self.kind,
            "channel": self.channel,
            "call_time": _r(self.call_time),
            "start": _r(self.start),
            "text": self.text,
            "confidence": _r(self.confidence),
            "severity": self.severity,
            "detail": dict(self.detail),
        }


@dataclass(frozen=True)
class LiveEvent:
    """One event of a monitored call, as `monitor replay --json` prints it.

    `call_time` is the moment in the call the event refers to (for words, the end of the
    last word; for an alert, the end of the words that triggered it); `delay_s` is the
    wall-clock time from that moment of the call (as it was fed) to the event, filled in
    by whoever emits it (None when not measured).
    """

    event: EventKind
    call_time: float
    channel: int | None
    speaker: str | None
    text: str
    words: tuple[LiveWord, ...] = ()
    rule: str | None = None
    confidence: float | None = None
    delay_s: float | None = None
    alert: Alert | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event": self.event,
            "call_time": _r(self.call_time),
            "delay_s": _r(self.delay_s),
            "channel": self.channel,
            "speaker": self.speaker,
            "text": self.text,
            "rule": self.rule,
            "confidence": _r(self.confidence),
        }
        if self.words:
            out["words"] = [w.to_json() for w in self.words]
        if self.alert is not None:
            out["alert"] = self.alert.to_json()
        return out
