"""Keywords of a call, where each one was said, and simple topics that group them.

Method:

- The utterance texts, one per line, with placeholders of redacted data ("[EMAIL]")
  removed, go to YAKE (`n=3`, `dedup_lim=0.7`, its stopword list for the transcript's
  language; YAKE falls back to a language-neutral list for others). YAKE is statistical
  and needs no model or network; a lower score is a better keyword.
- Candidates are dropped when every token is a stopword, every token is a number, or the
  text is (part of) a placeholder. Near-duplicates are merged, keeping the better-scored
  form: the same tokens after case folding, the same tokens after removing a plural
  ending (English "s"/"es", German "e"/"en"/"n"/"s"/"er" — crude, on purpose), or one
  keyword's tokens being a contiguous part of the other's ("router" inside "router
  reset"). So the list holds distinct things, not every sub-phrase.
- Occurrences: a keyword is looked up as a case-insensitive token sequence in each
  utterance (in its words, to give the start time of the first word; in its text, at the
  utterance start, when it has no words). A keyword found in no utterance is dropped.
- Confidence of a keyword = 0.5 * (1 - rank / count) + 0.5 / (1 + 10 * score): high for
  the top of the list and for low YAKE scores. The stage's confidence is the mean keyword
  confidence times min(1, words / 150): YAKE's statistics mean little on a short call.
- Topics: keywords sharing a content token (not a stopword) are grouped, taking the
  token that joins most keywords first, at most `KeywordsParams.max_topics` topics of at
  least two keywords each; the topic label is that token. This is lexical grouping only
  ("refund" and "money back" stay apart).

Speed: about 0.2 s for a 1,500-word call (0.35 s on the first call of a process, which
builds the extractor), nearly all of it in YAKE.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import yake

from callvault.analysis._records import Transcript, Utterance
from callvault.analysis.insights._records import CallFacts, StageStamp

__all__ = ["STAMP", "Keyword", "KeywordsParams", "KeywordsResult", "Occurrence", "Topic", "run"]

NAME = "keywords"
VERSION = "1"

_PLACEHOLDER = re.compile(r"\[[^\]]*\]")
_TOKEN = re.compile(r"\w+(?:['’-]\w+)*")
_NUMBER = re.compile(r"[\d.,'’-]+")
_PLURAL = {"en": ("es", "s"), "de": ("en", "er", "e", "n", "s")}


@dataclass(frozen=True)
class KeywordsParams:
    """`top`: keywords kept; `max_ngram`: longest keyword in words; `max_topics`."""

    top: int = 20
    max_ngram: int = 3
    dedup_limit: float = 0.7
    max_topics: int = 5

    def stamp(self) -> StageStamp:
        return StageStamp(NAME, VERSION, asdict(self))


STAMP = KeywordsParams().stamp()


def _r(value: float) -> float:
    return round(value, 3)


@dataclass(frozen=True)
class Occurrence:
    utterance: int
    start: float
    speaker: str

    def to_json(self) -> dict[str, Any]:
        return {"utterance": self.utterance, "start": _r(self.start), "speaker": self.speaker}


@dataclass(frozen=True)
class Keyword:
    text: str
    score: float
    confidence: float
    occurrences: tuple[Occurrence, ...]
    utterances: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "score": round(self.score, 6),  # YAKE scores are often below 0.001
            "confidence": _r(self.confidence),
            "occurrences": [o.to_json() for o in self.occurrences],
            "utterances": list(self.utterances),
        }


@dataclass(frozen=True)
class Topic:
    label: str
    keywords: tuple[str, ...]
    confidence: float
    utterances: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "keywords": list(self.keywords),
            "confidence": _r(self.confidence),
            "utterances": list(self.utterances),
        }


@dataclass(frozen=True)
class KeywordsResult:
    """The result of the keywords stage, best keyword first."""

    language: str | None
    keywords: tuple[Keyword, ...]
    topics: tuple[Topic, ...]
    confidence: float
    utterances: tuple[int, ...]
    stamp: StageStamp

    def to_json(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "keywords": [k.to_json() for k in self.keywords],
            "topics": [t.to_json() for t in self.topics],
            "confidence": _r(self.confidence),
            "utterances": list(self.utterances),
            "stamp": self.stamp.to_json(),
        }


@functools.lru_cache(maxsize=8)
def _extractor(language: str, params: KeywordsParams) -> Any:
    # Ask for more than `top`: filtering and merging below remove some.
    return yake.KeywordExtractor(
        lan=language,
        n=params.max_ngram,
        dedup_lim=params.dedup_limit,
        top=params.top * 3,
    )


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.casefold())


def _stem(token: str, language: str) -> str:
    for ending in _PLURAL.get(language, ()):
        if len(token) > len(ending) + 2 and token.endswith(ending):
            return token[: -len(ending)]
    return token


def _contains(outer: Sequence[str], inner: Sequence[str]) -> bool:
    size = len(inner)
    return any(list(outer[i : i + size]) == list(inner) for i in range(len(outer) - size + 1))


def _utterance_tokens(utterance: Utterance) -> list[tuple[str, float]]:
    if utterance.words:
        return [
            (token, word.start)
            for word in utterance.words
            for token in _tokens(_PLACEHOLDER.sub(" ", word.text))
        ]
    return [(token, utterance.start) for token in _tokens(_PLACEHOLDER.sub(" ", utterance.text))]


@dataclass(frozen=True)
class _Index:
    """The tokens of each utterance with their start times, and where each token occurs."""

    tokens: tuple[tuple[str, ...], ...]
    starts: tuple[tuple[float, ...], ...]
    positions: dict[str, list[tuple[int, int]]]

    @classmethod
    def build(cls, utterances: Sequence[Utterance]) -> _Index:
        tokens: list[tuple[str, ...]] = []
        starts: list[tuple[float, ...]] = []
        positions: dict[str, list[tuple[int, int]]] = {}
        for index, utterance in enumerate(utterances):
            pairs = _utterance_tokens(utterance)
            tokens.append(tuple(t for t, _ in pairs))
            starts.append(tuple(start for _, start in pairs))
            for position, (token, _) in enumerate(pairs):
                positions.setdefault(token, []).append((index, position))
        return cls(tuple(tokens), tuple(starts), positions)

    def occurrences(
        self, tokens: Sequence[str], utterances: Sequence[Utterance]
    ) -> tuple[Occurrence, ...]:
        size, wanted = len(tokens), tuple(tokens)
        return tuple(
            Occurrence(index, self.starts[index][position], utterances[index].speaker)
            for index, position in self.positions.get(tokens[0], [])
            if self.tokens[index][position : position + size] == wanted
        )


def _topics(keywords: Sequence[Keyword], stopwords: set[str], limit: int) -> tuple[Topic, ...]:
    remaining = list(keywords)
    topics: list[Topic] = []
    while len(topics) < limit:
        by_token: dict[str, list[Keyword]] = {}
        for keyword in remaining:
            for token in dict.fromkeys(_tokens(keyword.text)):
                if token not in stopwords and not _NUMBER.fullmatch(token):
                    by_token.setdefault(token, []).append(keyword)
        if not by_token:
            break
        # most keywords first; among equals the token of the better-ranked keyword
        label, group = max(by_token.items(), key=lambda item: len(item[1]))
        if len(group) < 2:
            break
        topics.append(
            Topic(
                label=label,
                keywords=tuple(k.text for k in group),
                confidence=sum(k.confidence for k in group) / len(group),
                utterances=tuple(sorted({i for k in group for i in k.utterances})),
            )
        )
        remaining = [k for k in remaining if k not in group]
    return tuple(topics)


def run(
    transcript: Transcript, facts: CallFacts, params: KeywordsParams | None = None
) -> KeywordsResult:
    """Extract the call's keywords, their occurrences, and topics."""
    params = params or KeywordsParams()
    raw_language = transcript.language or facts.language
    language = (raw_language or "").split("-")[0].split("_")[0].lower()
    utterances = transcript.utterances
    text = "\n".join(_PLACEHOLDER.sub(" ", u.text).strip() for u in utterances)
    word_count = len(_tokens(text))
    empty = KeywordsResult(raw_language, (), (), 0.0, (), params.stamp())
    if word_count == 0:
        return empty

    extractor = _extractor(language or "noLang", params)
    stopwords: set[str] = {w.casefold() for w in extractor.stopword_set}
    index = _Index.build(utterances)

    # (text, score, tokens, stems, occurrences) of the keywords kept so far, best first
    kept: list[tuple[str, float, list[str], list[str], tuple[Occurrence, ...]]] = []
    for candidate, raw_score in extractor.extract_keywords(text):
        tokens = _tokens(str(candidate))
        score = float(raw_score)
        if not tokens or all(t in stopwords for t in tokens):
            continue
        if all(_NUMBER.fullmatch(t) for t in tokens):
            continue
        stems = [_stem(t, language) for t in tokens]
        duplicate = any(
            stems == other_stems or _contains(other, tokens) or _contains(tokens, other)
            for _, _, other, other_stems, _ in kept
        )
        if duplicate:
            continue  # YAKE lists best first, so the kept form has the better score
        occurrences = index.occurrences(tokens, utterances)
        if not occurrences:
            continue
        kept.append((str(candidate), score, tokens, stems, occurrences))
        if len(kept) == params.top:
            break

    keywords = tuple(
        Keyword(
            text=candidate,
            score=score,
            confidence=0.5 * (1.0 - rank / len(kept)) + 0.5 / (1.0 + 10.0 * score),
            occurrences=occurrences,
            utterances=tuple(sorted({o.utterance for o in occurrences})),
        )
        for rank, (candidate, score, _, _, occurrences) in enumerate(kept)
    )
    if not keywords:
        return empty
    mean = sum(k.confidence for k in keywords) / len(keywords)
    return KeywordsResult(
        language=raw_language,
        keywords=keywords,
        topics=_topics(keywords, stopwords, params.max_topics),
        confidence=mean * min(1.0, word_count / 150.0),
        utterances=tuple(sorted({i for k in keywords for i in k.utterances})),
        stamp=params.stamp(),
    )
