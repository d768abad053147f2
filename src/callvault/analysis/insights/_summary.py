"""An extractive summary of a call: its most central sentences, in the order they were said.

Method. Every utterance is split into sentences at ".", "!" and "?". Sentences of fewer
than `min_words` words ("yes, sure", "okay") and sentences made only of redaction
placeholders ("[PERSON]", "<PHONE_NUMBER>") are dropped. Each remaining sentence is a
TF-IDF vector over its folded words without stopwords (smooth idf, l2-normalised); its
score is its mean cosine similarity to the other sentences (centrality: a sentence that
shares the call's vocabulary stands for much of it). The `points` best (default 5; None:
about 10% of the sentences; always 1..8) are returned in time order with the utterance
they came from and its speaker.

Confidence is at most 0.6, as an extractive summary only quotes: 0.3 plus up to 0.3 for how
far a sentence's score stands above the lowest score (relative to the spread of scores);
when all scores are equal the choice says little and every point gets 0.3.

Topics: "Discussed: a, b, c." from the `keywords` given (e.g. by a keyword stage), or else
from the words with the highest summed TF-IDF weight.

Limits. Quotes are verbatim ASR text (errors included); no anaphora resolution; a call
that is mostly small talk yields small talk.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from callvault.analysis._records import Transcript
from callvault.analysis.insights._matching import STOPWORDS, words_of
from callvault.analysis.insights._records import CallFacts, StageStamp
from callvault.errors import ConfigError

__all__ = [
    "STAGE",
    "SummaryParams",
    "SummaryPoint",
    "SummaryResult",
    "run",
    "sentences_of",
    "topics_line",
]

STAGE = "summary"
VERSION = "1"
MAX_POINTS = 8
MAX_CONFIDENCE = 0.6

PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9_]*\]|<[A-Z][A-Z0-9_]*>")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class SummaryPoint:
    """One summary sentence and the utterances it comes from."""

    text: str
    utterances: tuple[int, ...]
    speaker: str | None
    confidence: float

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "utterances": list(self.utterances),
            "speaker": self.speaker,
            "confidence": round(self.confidence, 3),
        }


@dataclass(frozen=True)
class SummaryResult:
    """`method` is "extractive" or "llm:<model>"; `topics` is one line, or "" when none."""

    method: str
    points: tuple[SummaryPoint, ...]
    topics: str
    stamp: StageStamp

    @property
    def confidence(self) -> float:
        if not self.points:
            return 0.0
        return sum(p.confidence for p in self.points) / len(self.points)

    @property
    def utterances(self) -> tuple[int, ...]:
        return tuple(sorted({i for p in self.points for i in p.utterances}))

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "points": [p.to_json() for p in self.points],
            "topics": self.topics,
            "confidence": round(self.confidence, 3),
            "utterances": list(self.utterances),
            "stamp": self.stamp.to_json(),
        }


@dataclass(frozen=True)
class SummaryParams:
    """`points`: how many sentences (None: about 10% of them); `min_words`: shorter
    sentences are fillers; `topics`: at most this many topics in the line."""

    points: int | None = 5
    min_words: int = 5
    topics: int = 5

    def validate(self) -> None:
        if self.points is not None and not 1 <= self.points <= MAX_POINTS:
            raise ConfigError(f"summary: points must be 1..{MAX_POINTS}, not {self.points}")
        if self.min_words < 1:
            raise ConfigError("summary: min_words must be at least 1")
        if self.topics < 0:
            raise ConfigError("summary: topics must not be negative")

    @property
    def stamp(self) -> StageStamp:
        return StageStamp(
            STAGE,
            VERSION,
            {
                "method": "extractive",
                "points": self.points,
                "min_words": self.min_words,
                "topics": self.topics,
            },
        )


@dataclass(frozen=True)
class _Sentence:
    text: str
    utterance: int
    speaker: str
    words: tuple[str, ...]  # folded content words


def sentences_of(text: str) -> list[str]:
    """The sentences of an utterance text, split after ".", "!" and "?"."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]


def _is_placeholder_only(text: str) -> bool:
    return not words_of(PLACEHOLDER.sub(" ", text))


def _candidates(transcript: Transcript, min_words: int, surface: dict[str, str]) -> list[_Sentence]:
    out: list[_Sentence] = []
    for index, utterance in enumerate(transcript.utterances):
        for sentence in sentences_of(utterance.text):
            if _is_placeholder_only(sentence) or len(sentence.split()) < min_words:
                continue
            clean = PLACEHOLDER.sub(" ", sentence)
            folded = words_of(clean)
            content = tuple(w for w in folded if w not in STOPWORDS and not w.isdigit())
            # Topics are shown as said ("gespräch"), not folded ("gespraech").
            for word, said in zip(folded, words_of(clean, as_said=True), strict=False):
                surface.setdefault(word, said)
            out.append(_Sentence(sentence, index, utterance.speaker, content))
    return out


def _tfidf(sentences: Sequence[_Sentence]) -> tuple[np.ndarray[Any, Any], list[str]]:
    vocabulary = sorted({w for s in sentences for w in s.words})
    column = {w: i for i, w in enumerate(vocabulary)}
    matrix = np.zeros((len(sentences), len(vocabulary)), dtype=np.float64)
    for row, sentence in enumerate(sentences):
        for word, count in Counter(sentence.words).items():
            matrix[row, column[word]] = count / len(sentence.words)
    df = (matrix > 0).sum(axis=0)
    idf = np.log((1 + len(sentences)) / (1 + df)) + 1.0
    matrix *= idf
    return matrix, vocabulary


def _how_many(params: SummaryParams, n: int) -> int:
    wanted = params.points if params.points is not None else round(n * 0.1)
    return max(1, min(MAX_POINTS, wanted, n))


def topics_line(topics: Sequence[str]) -> str:
    """ "Discussed: a, b, c." or "" without topics."""
    clean = [t.strip() for t in topics if t.strip()]
    return f"Discussed: {', '.join(clean)}." if clean else ""


def run(
    transcript: Transcript,
    facts: CallFacts,
    params: SummaryParams,
    keywords: Sequence[str] = (),
) -> SummaryResult:
    """The extractive summary of a call (see the module doc)."""
    del facts  # the extractive method reads the text only
    params.validate()
    surface: dict[str, str] = {}
    sentences = _candidates(transcript, params.min_words, surface)
    sentences = [s for s in sentences if s.words]
    if not sentences:
        return SummaryResult("extractive", (), topics_line(keywords[: params.topics]), params.stamp)
    matrix, vocabulary = _tfidf(sentences)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit = matrix / np.where(norms == 0, 1.0, norms)
    n = len(sentences)
    if n == 1:
        scores = np.ones(1)
    else:
        similarity = unit @ unit.T
        scores = (similarity.sum(axis=1) - np.diag(similarity)) / (n - 1)
    k = _how_many(params, n)
    # Stable order for equal scores: earlier sentences first.
    ranked = sorted(range(n), key=lambda i: (-round(float(scores[i]), 12), i))[:k]
    low, high = float(scores.min()), float(scores.max())
    spread = high - low
    points = []
    for i in sorted(ranked):
        relative = (float(scores[i]) - low) / spread if spread > 1e-12 else 0.0
        confidence = min(MAX_CONFIDENCE, 0.3 + 0.3 * relative)
        s = sentences[i]
        points.append(SummaryPoint(s.text, (s.utterance,), s.speaker, confidence))
    if keywords:
        topics = list(keywords[: params.topics])
    else:
        weight = matrix.sum(axis=0)
        order = sorted(range(len(vocabulary)), key=lambda j: (-float(weight[j]), vocabulary[j]))
        words = [vocabulary[j] for j in order if len(vocabulary[j]) >= 3][: params.topics]
        topics = [surface.get(w, w) for w in words]
    return SummaryResult("extractive", tuple(points), topics_line(topics), params.stamp)
