"""Phrase matching for trackers and compliance checks: how text is folded into words and
tokens, and how a phrase matches a run of tokens (exactly, by an inflection variant, or
loosely with a word more between). See `_trackers` for the method as a whole.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from callvault.analysis._data import read_words
from callvault.analysis._records import Utterance
from callvault.analysis.insights._records import CallFacts

__all__ = [
    "EXACT",
    "LOOSE",
    "STOPWORDS",
    "VARIANT",
    "WILDCARD",
    "Token",
    "fold",
    "fuzzy_find",
    "match_at",
    "matches",
    "phrases_for",
    "roles_known",
    "rounded",
    "tokens_of",
    "variants",
    "words_of",
]

EXACT = 1.0
VARIANT = 0.8
LOOSE = 0.7  # a tracker phrase with another word between its words
WILDCARD = "*"

# English and German (folded: umlauts as ae/oe/ue, ß as ss), from data/trackers.toml.
STOPWORDS = frozenset(
    word
    for words in read_words("callvault.analysis.insights", "trackers.toml")["stopwords"].values()
    for word in words
)

_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "’": "", "'": "", "ʼ": ""})
_SPLIT = re.compile(r"[^\w]+|_")


def fold(text: str) -> str:
    """Case-folded, umlaut-folded text without apostrophes (punctuation kept)."""
    return unicodedata.normalize("NFC", text).casefold().translate(_FOLD)


_APOSTROPHES = str.maketrans({"’": "", "'": "", "ʼ": ""})


def words_of(text: str, *, as_said: bool = False) -> list[str]:
    """The folded words of a text, punctuation dropped; "*" is kept as a wildcard word.

    `as_said` keeps umlauts (only case and apostrophes are folded), for display.
    """
    if as_said:
        folded = unicodedata.normalize("NFC", text).casefold().translate(_APOSTROPHES)
    else:
        folded = fold(text)
    out: list[str] = []
    for piece in folded.split():
        if piece == WILDCARD:
            out.append(WILDCARD)
        else:
            out.extend(part for part in _SPLIT.split(piece) if part)
    return out


@dataclass(frozen=True)
class Token:
    """One folded word of an utterance and the time its recognised word starts."""

    text: str
    start: float


def tokens_of(utterance: Utterance) -> list[Token]:
    """Folded tokens of an utterance with start times.

    Times come from the recogniser's words; without words they are spread evenly over
    the utterance.
    """
    if utterance.words:
        return [Token(part, word.start) for word in utterance.words for part in words_of(word.text)]
    parts = words_of(utterance.text)
    span = max(utterance.end - utterance.start, 0.0)
    step = span / len(parts) if parts else 0.0
    return [Token(part, utterance.start + i * step) for i, part in enumerate(parts)]


@functools.lru_cache(maxsize=8192)
def variants(word: str) -> frozenset[str]:
    """Inflection variants of a folded phrase word (not the word itself)."""
    if word == WILDCARD or len(word) < 2:
        return frozenset()
    out = {word + "s", word + "es"}
    if word.endswith("s") and len(word) > 3:
        out.add(word[:-1])
    if word.endswith("ed") and len(word) > 4:
        stem = word[:-2]
        out |= {stem, stem + "s", stem + "ing", stem + "e", stem + "es"}
    if word.endswith("ing") and len(word) > 5:
        stem = word[:-3]
        out |= {stem, stem + "s", stem + "ed", stem + "e", stem + "es", stem + "ed"}
    if word.endswith("e") and len(word) > 3:
        out |= {word + "d", word[:-1] + "ing"}
    out.discard(word)
    return frozenset(out)


def _word_score(pattern: str, token: str) -> float:
    """1.0 for an exact (or wildcard) match, 0.8 for a variant, 0.0 otherwise."""
    if pattern == WILDCARD or pattern == token:
        return EXACT
    if token in variants(pattern):
        return VARIANT
    return 0.0


def _may_occur(word: str, present: set[str]) -> bool:
    return word in present or not variants(word).isdisjoint(present)


def match_at(pattern: Sequence[str], tokens: Sequence[Token], at: int) -> float:
    """Confidence of `pattern` matching the tokens from `at` on, word for word (0: none)."""
    if at + len(pattern) > len(tokens):
        return 0.0
    confidence = EXACT
    for offset, word in enumerate(pattern):
        score = _word_score(word, tokens[at + offset].text)
        if not score:
            return 0.0
        confidence = min(confidence, score)
    return confidence


def fuzzy_find(pattern: Sequence[str], tokens: Sequence[Token]) -> tuple[int, float] | None:
    """First place the content words of `pattern` occur in order, loosely (see module doc).

    Returns the index of the first matched token and the match confidence (1.0 when the
    phrase occurs word for word, else 0.8), or None.
    """
    exact = [i for i in range(len(tokens)) if match_at(pattern, tokens, i) == EXACT]
    if exact:
        return exact[0], EXACT
    content = [(i, w) for i, w in enumerate(pattern) if w not in STOPWORDS and w != WILDCARD]
    if not content:
        return None
    for start in range(len(tokens)):
        if not _word_score(content[0][1], tokens[start].text):
            continue
        position = start
        ok = True
        for (prev_i, _), (next_i, word) in zip(content, content[1:], strict=False):
            allowed = next_i - prev_i  # the phrase's own distance, plus one extra word
            found = None
            for step in range(1, allowed + 2):
                j = position + step
                if j < len(tokens) and _word_score(word, tokens[j].text):
                    found = j
                    break
            if found is None:
                ok = False
                break
            position = found
        if ok:
            return start, VARIANT
    return None


def language_key(language: str | None) -> str | None:
    if not language:
        return None
    return language.split("-")[0].split("_")[0].casefold()


def phrases_for(
    phrases: Mapping[str, tuple[str, ...]], language: str | None
) -> list[tuple[str, tuple[str, ...]]]:
    """(phrase, folded words) for the call's language; every language when it is unknown."""
    key = language_key(language)
    if key is not None and key in phrases:
        chosen: Iterable[str] = phrases[key]
    else:
        chosen = [p for lang in sorted(phrases) for p in phrases[lang]]
    return [(phrase, tuple(words_of(phrase))) for phrase in chosen]


def rounded(value: float | None) -> float | None:
    """A time or confidence as results write it: three decimals."""
    return None if value is None else round(value, 3)


def roles_known(facts: CallFacts, role: str) -> bool:
    return role in facts.roles.values()


def matches(
    patterns: Sequence[tuple[str, tuple[str, ...]]],
    tokens: Sequence[Token],
    *,
    exact_only: bool = False,
) -> list[tuple[str, int, float]]:
    """(phrase, first token, confidence) of the phrases found in one utterance.

    Overlapping matches count once: the exact one first, then the longer one, then the
    earlier one ("what are the next steps" hides "next steps" inside it).
    """
    found: list[tuple[float, int, int, str]] = []
    present = {token.text for token in tokens}
    for phrase, pattern in patterns:
        if not pattern or not all(w == WILDCARD or _may_occur(w, present) for w in pattern):
            continue  # a quick test: some word of the phrase is not said at all
        matched = False
        for at in range(len(tokens)):
            confidence = match_at(pattern, tokens, at)
            if confidence and (confidence == EXACT or not exact_only):
                found.append((confidence, len(pattern), at, phrase))
                matched = True
        content = [w for w in pattern if w not in STOPWORDS and w != WILDCARD]
        if not matched and not exact_only and len(content) >= 2:
            # Said with a word more between ("we just don't need"), as `fuzzy_find`
            # allows; a phrase of one content word never matches loosely.
            located = fuzzy_find(pattern, tokens)
            if located is not None:
                found.append((LOOSE, len(pattern), located[0], phrase))
    found.sort(key=lambda f: (-f[0], -f[1], f[2]))
    taken: set[int] = set()
    out: list[tuple[str, int, float]] = []
    for confidence, length, at, phrase in found:
        span = set(range(at, at + length))
        if span & taken:
            continue
        taken |= span
        out.append((phrase, at, confidence))
    return sorted(out, key=lambda m: m[1])
