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

# German polarity lexicon: valence -3..3, like VADER's. Multi-word entries are matched
# first. Kept small and common on purpose; see the module docstring for its limits.
_LEXICON_DE: dict[str, float] = {
    # positive
    "danke": 1.5, "dankeschön": 1.8, "vielen dank": 2.0, "herzlichen dank": 2.2,
    "bedanke": 1.5, "dankbar": 2.0, "super": 2.5, "toll": 2.5, "klasse": 2.3,
    "prima": 2.2, "perfekt": 2.8, "wunderbar": 2.7, "wunderbare": 2.7, "großartig": 2.8,
    "hervorragend": 2.8, "ausgezeichnet": 2.8, "fantastisch": 2.8, "genial": 2.5,
    "spitze": 2.5, "gut": 1.6, "gute": 1.6, "guten": 1.2, "guter": 1.6, "gutes": 1.6,
    "besser": 1.2, "beste": 2.0, "besten": 1.8, "schön": 1.8, "schöne": 1.8,
    "schönen": 1.5, "zufrieden": 2.0, "zufriedenheit": 1.8, "glücklich": 2.5,
    "froh": 2.0, "freue": 2.0, "freuen": 1.8, "freut": 2.0, "erfreut": 2.0,
    "gerne": 1.2, "gern": 1.2, "hilfreich": 2.0, "geholfen": 1.8, "hilft": 1.3,
    "helfen": 0.8, "freundlich": 2.0, "freundliche": 2.0, "nett": 1.8, "nette": 1.8,
    "lieb": 1.8, "höflich": 1.5, "kompetent": 2.0, "schnell": 1.2, "einfach": 0.8,
    "unkompliziert": 1.8, "funktioniert": 1.2, "klappt": 1.2, "passt": 1.0,
    "gelöst": 2.0, "erledigt": 1.2, "richtig": 0.8, "korrekt": 0.8, "genau": 0.5,
    "prächtig": 2.5, "angenehm": 1.8, "empfehlen": 2.0, "empfehlenswert": 2.2,
    "lohnt": 1.5, "günstig": 1.5, "günstiger": 1.3, "preiswert": 1.5, "fair": 1.5,
    "gefällt": 2.0, "gefallen": 1.5, "mag": 1.3, "liebe": 2.2, "begeistert": 2.7,
    "beeindruckt": 2.2, "zuverlässig": 2.0, "sicher": 0.8, "ruhig": 0.5,
    "bequem": 1.5, "praktisch": 1.5, "willkommen": 1.5, "gratuliere": 2.2,
    "glückwunsch": 2.2, "erleichtert": 1.8, "verständnis": 1.2, "geduld": 1.0,
    "wunderschön": 2.8, "optimal": 2.2, "ideal": 2.2, "top": 2.2, "okay": 0.5,
    "ok": 0.5, "alles klar": 0.8, "in ordnung": 0.8, "kein problem": 1.5,
    "keine ursache": 1.2, "gern geschehen": 1.5, "sehr gerne": 1.8, "hat geklappt": 2.0,
    "tolle": 2.5, "tollen": 2.5, "super service": 2.8, "schönen tag": 1.5,
    "lösung": 1.0, "rabatt": 1.2, "gutschrift": 1.3, "entgegenkommen": 1.8,
    "kulant": 2.0, "kulanz": 1.5, "bewährt": 1.5, "stabil": 1.0, "verlässlich": 1.8,
    # negative
    "problem": -1.5, "probleme": -1.6, "problemen": -1.5, "schlecht": -2.2,
    "schlechte": -2.2, "schlechten": -2.2, "schlechter": -2.0, "schlimm": -2.3,
    "schlimmer": -2.3, "furchtbar": -2.8, "schrecklich": -2.8, "katastrophe": -3.0,
    "katastrophal": -3.0, "miserabel": -2.8, "unmöglich": -2.3, "frechheit": -2.8,
    "unverschämt": -2.8, "unverschämtheit": -2.9, "ärgerlich": -2.2, "ärgere": -2.0,
    "ärger": -2.0, "verärgert": -2.5, "sauer": -2.2, "wütend": -2.8, "genervt": -2.2,
    "nervt": -2.0, "nervig": -2.0, "enttäuscht": -2.3, "enttäuschend": -2.3,
    "enttäuschung": -2.3, "unzufrieden": -2.3, "unzufriedenheit": -2.3, "leider": -1.0,
    "teuer": -1.5, "zu teuer": -2.0, "teurer": -1.3, "kündigen": -1.8,
    "kündigung": -1.6, "gekündigt": -1.5, "beschwerde": -2.0, "beschweren": -2.0,
    "reklamation": -1.6, "reklamieren": -1.6, "defekt": -2.0, "kaputt": -2.2,
    "fehler": -1.6, "fehlerhaft": -2.0, "falsch": -1.5, "falsche": -1.5,
    "störung": -1.8, "ausfall": -1.8, "ausgefallen": -1.8, "langsam": -1.3,
    "warten": -0.8, "wartezeit": -1.3, "gewartet": -1.3, "ewig": -1.5,
    "ewigkeit": -1.8, "stundenlang": -2.0, "wochenlang": -2.0, "niemand": -0.8,
    "unfreundlich": -2.3, "unhöflich": -2.3, "inkompetent": -2.6, "chaos": -2.2,
    "chaotisch": -2.0, "mist": -2.2, "scheiße": -3.0, "scheiß": -2.8, "verdammt": -2.2,
    "blöd": -2.0, "dumm": -2.0, "lächerlich": -2.3, "skandal": -2.8, "betrug": -3.0,
    "abzocke": -3.0, "abgezockt": -3.0, "betrogen": -3.0, "sorge": -1.3, "sorgen": -1.3,
    "angst": -2.0, "traurig": -2.0, "leid": -1.0, "tut mir leid": -0.8,
    "entschuldigung": -0.5, "schade": -1.5, "mahnung": -1.6, "gebühr": -1.0,
    "gebühren": -1.0, "zusatzkosten": -1.5, "versteckte kosten": -2.3, "nachzahlung": -1.3,
    "verzögerung": -1.6, "verspätet": -1.6, "verspätung": -1.6, "zu spät": -1.8,
    "nicht erreichbar": -2.0, "keiner erreichbar": -2.2, "schwierig": -1.3,
    "kompliziert": -1.5, "umständlich": -1.5, "unklar": -1.2, "verwirrend": -1.5,
    "fehlt": -1.2, "verloren": -1.8, "verschwunden": -1.8, "zumutung": -2.8,
    "inakzeptabel": -2.8, "unakzeptabel": -2.8, "ungerecht": -2.2, "unfair": -2.2,
    "wechseln": -0.8, "anwalt": -1.8, "verbraucherzentrale": -2.0, "nie wieder": -2.5,
    "reicht mir": -2.0, "reicht's": -2.0, "hasse": -2.8, "hässlich": -2.0,
    "unbrauchbar": -2.6, "nutzlos": -2.5, "sinnlos": -2.2, "peinlich": -2.0,
    "dreist": -2.3, "unzuverlässig": -2.2, "unmöglicher": -2.3, "klappt nicht": -1.8,
    "funktioniert nicht": -2.0, "geht nicht": -1.6,
}  # fmt: skip

# Verbs whose negator usually follows them ("das gefällt mir nicht").
_VERBS_DE = frozenset(
    {"gefällt", "gefallen", "funktioniert", "klappt", "passt", "hilft", "freue", "freut",
     "lohnt", "mag", "liebe", "empfehlen", "hasse", "nervt", "ärgere", "fehlt"}
)  # fmt: skip
_NEGATORS_DE = frozenset(
    {"nicht", "kein", "keine", "keinen", "keinem", "keiner", "keines", "nie", "niemals",
     "nichts", "nirgends"}
)  # fmt: skip
_INTENSIFIERS_DE = frozenset(
    {"sehr", "total", "echt", "wirklich", "extrem", "absolut", "richtig", "besonders",
     "äußerst", "voll", "ziemlich", "wahnsinnig", "unglaublich", "so", "ganz", "mega"}
)  # fmt: skip
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
