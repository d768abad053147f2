"""Sentiment of a call: a score per utterance, each speaker's sentiment over time, and
whether the customer ended the call in a better or worse mood than they started it.

Method, by the transcript's language (`Transcript.language`, else `CallFacts.language`):

- English ("vader"): VADER's compound score (-1..1) per utterance. Labels: positive at
  >= 0.05, negative at <= -0.05, neutral between (VADER's own thresholds). Confidence of
  an utterance = (0.4 + 0.6 * |compound|) * min(1, words / 8), and at most 0.3 below
  3 words: VADER is built for short social-media text and is fairly reliable on a whole
  sentence, but one or two words ("okay", "fine") say little about mood.
- German ("lexicon-de"): VADER has no German lexicon, so a small built-in one (about 200
  words and phrases common in service calls, valences -3..3) is used. A negator (nicht,
  kein.., nie, niemals, nichts) in the 3 words before a lexicon word, in the same clause
  (clauses end at punctuation and at "aber", "sondern", "jedoch"), flips it; for verbs
  ("gefällt", "funktioniert", "klappt"...) a negator in the 3 words after does too
  ("das gefällt mir nicht"). An intensifier (sehr, total, echt, wirklich...) right before
  a word multiplies it by 1.5. The sum s is squashed like VADER's compound,
  s / sqrt(s^2 + 15). Confidence = min(0.5, 0.2 + 0.3 * |score|) * min(1, words / 8),
  0.1 when no lexicon word occurs, never above 0.5: a word list misses irony, most
  compounds and everything not in it.
- Any other language, or none known ("none"): every utterance is neutral with
  confidence 0.

Placeholders of redacted data ("[CREDIT_CARD]") are removed before scoring and are not
counted as words. An utterance with no words left gets score 0 and confidence 0 and is
left out of the timelines and the customer trend.

Timeline: the call is cut into windows of `SentimentParams.window` seconds (default 30);
an utterance belongs to the window its start falls in; each speaker gets one point per
window in which they spoke: the mean score of those utterances.

Customer trend: the customer is the speakers whose role is "customer"; with none, the
speakers whose role is not "agent" when some speaker is an agent (confidence x 0.8);
with no agent or customer role at all, every speaker (confidence x 0.5). Their scored
utterances, in start order, are split into the first and last third (at least one each,
never overlapping), or the first and last `edge_utterances` when that is set. The trend
is end - start: "improving" above +0.15, "declining" below -0.15, else "steady".
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from callvault.analysis._data import read_words
from callvault.analysis._records import Transcript
from callvault.analysis.insights._records import AGENT, CUSTOMER, CallFacts, StageStamp

__all__ = [
    "STAMP",
    "CustomerTrend",
    "SentimentParams",
    "SentimentResult",
    "SpeakerTimeline",
    "TimelinePoint",
    "UtteranceSentiment",
    "run",
    "score_english",
    "score_german",
]

NAME = "sentiment"
VERSION = "1"

Method = Literal["vader", "lexicon-de", "none"]
Label = Literal["positive", "negative", "neutral"]
TrendLabel = Literal["improving", "declining", "steady"]

_PLACEHOLDER = re.compile(r"\[[^\]]*\]")
_TOKEN = re.compile(r"\w+(?:['’-]\w+)*")
_CLAUSE = re.compile(r"[.,;:!?]+|\b(?:aber|sondern|jedoch)\b", re.IGNORECASE)

POSITIVE_THRESHOLD = 0.05  # VADER's documented thresholds for the compound score
NEGATIVE_THRESHOLD = -0.05
TREND_THRESHOLD = 0.15

# German polarity lexicon: valence -3..3, like VADER's (data/sentiment_de.toml).
# Multi-word entries are matched first. Kept small and common on purpose; see the module
# docstring for its limits.
_GERMAN = read_words("callvault.analysis.insights", "sentiment_de.toml")
_LEXICON_DE: dict[str, float] = dict(_GERMAN["lexicon"])
# Verbs whose negator usually follows them ("das gefällt mir nicht").
_VERBS_DE = frozenset(_GERMAN["words"]["verbs"])
_NEGATORS_DE = frozenset(_GERMAN["words"]["negators"])
_INTENSIFIERS_DE = frozenset(_GERMAN["words"]["intensifiers"])
_PHRASE_LENGTH = max(len(key.split()) for key in _LEXICON_DE)


@dataclass(frozen=True)
class SentimentParams:
    """`window`: timeline window in seconds; `edge_utterances`: how many customer
    utterances make the start and the end of the call (None: a third each)."""

    window: float = 30.0
    edge_utterances: int | None = None

    def __post_init__(self) -> None:
        if self.window <= 0:
            raise ValueError(f"sentiment window must be positive, not {self.window}")
        if self.edge_utterances is not None and self.edge_utterances < 1:
            raise ValueError(f"edge_utterances must be at least 1, not {self.edge_utterances}")

    def stamp(self, method: Method) -> StageStamp:
        return StageStamp(NAME, VERSION, {**asdict(self), "method": method})


STAMP = SentimentParams().stamp("vader")


def _r(value: float) -> float:
    return round(value, 3)


@dataclass(frozen=True)
class UtteranceSentiment:
    utterance: int
    speaker: str
    score: float
    label: Label
    confidence: float

    @property
    def utterances(self) -> tuple[int, ...]:
        return (self.utterance,)

    def to_json(self) -> dict[str, Any]:
        return {
            "utterance": self.utterance,
            "speaker": self.speaker,
            "score": _r(self.score),
            "label": self.label,
            "confidence": _r(self.confidence),
        }


@dataclass(frozen=True)
class TimelinePoint:
    start: float
    end: float
    score: float
    confidence: float
    utterances: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "start": _r(self.start),
            "end": _r(self.end),
            "score": _r(self.score),
            "confidence": _r(self.confidence),
            "utterances": list(self.utterances),
        }


@dataclass(frozen=True)
class SpeakerTimeline:
    speaker: str
    role: str
    points: tuple[TimelinePoint, ...]
    confidence: float
    utterances: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "speaker": self.speaker,
            "role": self.role,
            "points": [p.to_json() for p in self.points],
            "confidence": _r(self.confidence),
            "utterances": list(self.utterances),
        }


@dataclass(frozen=True)
class CustomerTrend:
    """The customer's mean sentiment at the start and at the end of the call."""

    speakers: tuple[str, ...]
    start: float
    end: float
    trend: float
    label: TrendLabel
    start_utterances: tuple[int, ...]
    end_utterances: tuple[int, ...]
    confidence: float
    utterances: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "speakers": list(self.speakers),
            "start": _r(self.start),
            "end": _r(self.end),
            "trend": _r(self.trend),
            "label": self.label,
            "start_utterances": list(self.start_utterances),
            "end_utterances": list(self.end_utterances),
            "confidence": _r(self.confidence),
            "utterances": list(self.utterances),
        }


@dataclass(frozen=True)
class SentimentResult:
    """The result of the sentiment stage; `customer` is None when no customer spoke."""

    method: Method
    items: tuple[UtteranceSentiment, ...]
    timelines: tuple[SpeakerTimeline, ...]
    customer: CustomerTrend | None
    confidence: float
    utterances: tuple[int, ...]
    stamp: StageStamp

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "items": [i.to_json() for i in self.items],
            "timelines": [t.to_json() for t in self.timelines],
            "customer": None if self.customer is None else self.customer.to_json(),
            "confidence": _r(self.confidence),
            "utterances": list(self.utterances),
            "stamp": self.stamp.to_json(),
        }


@functools.cache
def _vader() -> SentimentIntensityAnalyzer:
    """One analyser per process: it reads its lexicon from the package's files."""
    return SentimentIntensityAnalyzer()


def _label(score: float) -> Label:
    if score >= POSITIVE_THRESHOLD:
        return "positive"
    if score <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


def _length_factor(words: int) -> float:
    return min(1.0, words / 8.0)


def _score_english(text: str) -> tuple[float, float]:
    words = len(_TOKEN.findall(text))
    if words == 0:
        return 0.0, 0.0
    compound = float(_vader().polarity_scores(text)["compound"])
    confidence = (0.4 + 0.6 * abs(compound)) * _length_factor(words)
    if words < 3:
        confidence = min(confidence, 0.3)
    return compound, confidence


def score_english(text: str) -> tuple[float, float]:
    """(score -1..1, confidence 0..1) of an English text by VADER, redaction placeholders
    removed (the live sentiment rule scores utterances one by one with it)."""
    return _score_english(_PLACEHOLDER.sub(" ", text))


def _german_clause(tokens: Sequence[str]) -> tuple[float, int]:
    """Sum of valences in one clause and the number of lexicon hits."""
    total, hits, i = 0.0, 0, 0
    while i < len(tokens):
        for size in range(min(_PHRASE_LENGTH, len(tokens) - i), 0, -1):
            phrase = " ".join(tokens[i : i + size])
            valence = _LEXICON_DE.get(phrase)
            if valence is None:
                continue
            before = tokens[max(0, i - 3) : i]
            # a phrase that holds its own negation ("kein problem") is not flipped again
            own_negation = any(t in _NEGATORS_DE for t in tokens[i : i + size])
            negated = not own_negation and any(t in _NEGATORS_DE for t in before)
            if size == 1 and phrase in _VERBS_DE:
                after = tokens[i + 1 : i + 4]
                negated = negated or any(t in _NEGATORS_DE for t in after)
            if negated:
                valence = -valence
            if i > 0 and tokens[i - 1] in _INTENSIFIERS_DE:
                valence *= 1.5
            total += valence
            hits += 1
            i += size
            break
        else:
            i += 1
    return total, hits


def score_german(text: str) -> tuple[float, float]:
    """(score -1..1, confidence 0..0.5) of a German text by the built-in lexicon."""
    text = _PLACEHOLDER.sub(" ", text).lower()
    words = len(_TOKEN.findall(text))
    if words == 0:
        return 0.0, 0.0
    total, hits = 0.0, 0
    for clause in _CLAUSE.split(text):
        clause_total, clause_hits = _german_clause(_TOKEN.findall(clause))
        total += clause_total
        hits += clause_hits
    if hits == 0:
        return 0.0, 0.1
    score = total / math.sqrt(total * total + 15.0)
    return score, min(0.5, 0.2 + 0.3 * abs(score)) * _length_factor(words)


def _method(transcript: Transcript, facts: CallFacts) -> Method:
    language = (transcript.language or facts.language or "").split("-")[0].split("_")[0]
    language = language.lower()
    if language == "en":
        return "vader"
    if language == "de":
        return "lexicon-de"
    return "none"


def _score(text: str, method: Method) -> tuple[float, float]:
    if method == "vader":
        return _score_english(_PLACEHOLDER.sub(" ", text))
    if method == "lexicon-de":
        return score_german(text)
    return 0.0, 0.0


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _timeline(
    speaker: str, role: str, items: Sequence[tuple[float, UtteranceSentiment]], window: float
) -> SpeakerTimeline:
    buckets: dict[int, list[UtteranceSentiment]] = {}
    for start, item in items:
        buckets.setdefault(int(start // window), []).append(item)
    points = tuple(
        TimelinePoint(
            start=key * window,
            end=(key + 1) * window,
            score=_mean([i.score for i in bucket]),
            confidence=_mean([i.confidence for i in bucket]),
            utterances=tuple(i.utterance for i in bucket),
        )
        for key, bucket in sorted(buckets.items())
    )
    return SpeakerTimeline(
        speaker=speaker,
        role=role,
        points=points,
        confidence=_mean([i.confidence for _, i in items]),
        utterances=tuple(i.utterance for _, i in items),
    )


def _customer_speakers(speakers: Sequence[str], facts: CallFacts) -> tuple[list[str], float]:
    customers = [s for s in speakers if facts.role_of(s) == CUSTOMER]
    if customers:
        return customers, 1.0
    if any(facts.role_of(s) == AGENT for s in speakers):
        return [s for s in speakers if facts.role_of(s) != AGENT], 0.8
    return list(speakers), 0.5


def _customer_trend(
    items: Sequence[UtteranceSentiment], speakers: list[str], factor: float, edge: int | None
) -> CustomerTrend | None:
    own = [i for i in items if i.speaker in speakers]
    if not own:
        return None
    count = len(own)
    size = edge if edge is not None else math.ceil(count / 3)
    size = max(1, min(size, count // 2)) if count > 1 else 1
    head, tail = own[:size], own[-size:]
    start, end = _mean([i.score for i in head]), _mean([i.score for i in tail])
    trend = end - start
    label: TrendLabel = "steady"
    if trend > TREND_THRESHOLD:
        label = "improving"
    elif trend < -TREND_THRESHOLD:
        label = "declining"
    used = sorted({i.utterance for i in head} | {i.utterance for i in tail})
    return CustomerTrend(
        speakers=tuple(speakers),
        start=start,
        end=end,
        trend=trend,
        label=label,
        start_utterances=tuple(i.utterance for i in head),
        end_utterances=tuple(i.utterance for i in tail),
        confidence=_mean([i.confidence for i in head + tail]) * factor,
        utterances=tuple(used),
    )


def run(
    transcript: Transcript, facts: CallFacts, params: SentimentParams | None = None
) -> SentimentResult:
    """Score each utterance and build the timelines and the customer trend."""
    params = params or SentimentParams()
    method = _method(transcript, facts)
    utterances = transcript.utterances
    order = sorted(range(len(utterances)), key=lambda i: (utterances[i].start, i))

    items: list[UtteranceSentiment] = []
    scored: list[tuple[float, UtteranceSentiment]] = []  # (start, item) of utterances with words
    speakers: list[str] = []
    for index in order:
        utterance = utterances[index]
        if utterance.speaker not in speakers:
            speakers.append(utterance.speaker)
        score, confidence = _score(utterance.text, method)
        item = UtteranceSentiment(index, utterance.speaker, score, _label(score), confidence)
        items.append(item)
        if _TOKEN.search(_PLACEHOLDER.sub(" ", utterance.text)):
            scored.append((utterance.start, item))

    timelines = tuple(
        _timeline(s, facts.role_of(s), [(t, i) for t, i in scored if i.speaker == s], params.window)
        for s in speakers
    )
    customers, factor = _customer_speakers(speakers, facts)
    customer = _customer_trend([i for _, i in scored], customers, factor, params.edge_utterances)
    return SentimentResult(
        method=method,
        items=tuple(sorted(items, key=lambda i: i.utterance)),
        timelines=timelines,
        customer=customer,
        confidence=_mean([i.confidence for _, i in scored]),
        utterances=tuple(sorted(i.utterance for _, i in scored)),
        stamp=params.stamp(method),
    )
